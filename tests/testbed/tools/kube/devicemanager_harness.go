package main

// devicemanager-harness drives a device plugin through the kubelet's own device-manager
// registration server (k8s.io/kubernetes/pkg/kubelet/cm/devicemanager/plugin/v1beta1),
// compiled from the pinned Kubernetes sources, so that a plugin is tested against the
// code the real kubelet runs rather than against our reading of the API.
//
// It serves kubelet.sock in --dir, waits for the plugin to register and stream its
// devices, asks for options, a preferred allocation and an allocation, then restarts the
// way a kubelet does (stop, delete every socket in the directory, serve kubelet.sock
// anew) and measures how long the plugin takes to register again. Every step prints one
// JSON line on stdout; the process exits 1 at the first failed step.

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	pluginapi "k8s.io/kubelet/pkg/apis/deviceplugin/v1beta1"
	dm "k8s.io/kubernetes/pkg/kubelet/cm/devicemanager/plugin/v1beta1"
)

// harnessHandler records what the kubelet's registration server reports.
type harnessHandler struct {
	mu        sync.Mutex
	connected map[string]dm.DevicePlugin
	devices   map[string][]*pluginapi.Device
	changed   chan struct{}
}

func newHarnessHandler() *harnessHandler {
	return &harnessHandler{
		connected: map[string]dm.DevicePlugin{},
		devices:   map[string][]*pluginapi.Device{},
		changed:   make(chan struct{}, 64),
	}
}

func (h *harnessHandler) notify() {
	select {
	case h.changed <- struct{}{}:
	default:
	}
}

// CleanupPluginDirectory does what the kubelet does at start: remove every socket in the
// device-plugin directory, so plugins must notice and register again.
func (h *harnessHandler) CleanupPluginDirectory(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.Type()&os.ModeSocket != 0 {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}

func (h *harnessHandler) PluginConnected(resource string, p dm.DevicePlugin) error {
	h.mu.Lock()
	h.connected[resource] = p
	h.mu.Unlock()
	h.notify()
	return nil
}

func (h *harnessHandler) PluginDisconnected(resource string) {
	h.mu.Lock()
	delete(h.connected, resource)
	delete(h.devices, resource)
	h.mu.Unlock()
	h.notify()
}

func (h *harnessHandler) PluginListAndWatchReceiver(resource string, resp *pluginapi.ListAndWatchResponse) {
	h.mu.Lock()
	h.devices[resource] = resp.Devices
	h.mu.Unlock()
	h.notify()
}

// waitFor polls cond whenever the handler reports a change, until it holds or timeout.
func (h *harnessHandler) waitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.After(timeout)
	for {
		h.mu.Lock()
		ok := cond()
		h.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-h.changed:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			return false
		}
	}
}

func emit(step string, ok bool, fields map[string]any) {
	if fields == nil {
		fields = map[string]any{}
	}
	fields["step"] = step
	fields["ok"] = ok
	b, _ := json.Marshal(fields)
	fmt.Println(string(b))
	if !ok {
		os.Exit(1)
	}
}

func healthyIDs(devs []*pluginapi.Device) (healthy, unhealthy []string) {
	for _, d := range devs {
		if d.Health == pluginapi.Healthy {
			healthy = append(healthy, d.ID)
		} else {
			unhealthy = append(unhealthy, d.ID)
		}
	}
	sort.Strings(healthy)
	sort.Strings(unhealthy)
	return healthy, unhealthy
}

func runDeviceManagerHarness() int {
	fs := flag.NewFlagSet("devicemanager-harness", flag.ExitOnError)
	dir := fs.String("dir", "", "device-plugin directory where kubelet.sock is served (required, absolute)")
	resource := fs.String("resource", "huawei.com/Ascend910", "resource name the plugin must register")
	expect := fs.Int("expect-devices", 8, "number of devices the plugin must report")
	size := fs.Int("allocate", 2, "allocation size for GetPreferredAllocation and Allocate")
	restarts := fs.Int("restarts", 1, "kubelet restarts to simulate after the first allocation")
	timeout := fs.Duration("timeout", 30*time.Second, "how long each step may wait")
	_ = fs.Parse(os.Args[1:])
	if *dir == "" || !filepath.IsAbs(*dir) {
		fmt.Fprintln(os.Stderr, "devicemanager-harness: --dir must be an absolute path")
		return 2
	}

	h := newHarnessHandler()
	srv, err := dm.NewServer(filepath.Join(*dir, "kubelet.sock"), h, h)
	if err != nil {
		emit("new-server", false, map[string]any{"error": err.Error()})
	}
	t0 := time.Now()
	if err := srv.Start(); err != nil {
		emit("start", false, map[string]any{"error": err.Error()})
	}
	defer srv.Stop()
	emit("serving", true, map[string]any{"socket": srv.SocketPath()})

	waitRegistered := func(step string, since time.Time) dm.DevicePlugin {
		var plugin dm.DevicePlugin
		ok := h.waitFor(*timeout, func() bool {
			plugin = h.connected[*resource]
			return plugin != nil && len(h.devices[*resource]) > 0
		})
		if !ok {
			emit(step, false, map[string]any{"error": fmt.Sprintf("no registration of %s with a device list within %s", *resource, *timeout)})
		}
		h.mu.Lock()
		devs := h.devices[*resource]
		h.mu.Unlock()
		healthy, unhealthy := healthyIDs(devs)
		ms := time.Since(since).Milliseconds()
		emit(step, len(devs) == *expect, map[string]any{
			"resource": *resource, "endpoint": filepath.Base(plugin.SocketPath()), "devices": len(devs),
			"healthy": healthy, "unhealthy": unhealthy, "elapsed_ms": ms,
		})
		return plugin
	}

	plugin := waitRegistered("registered", t0)
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()

	opts, err := plugin.API().GetDevicePluginOptions(ctx, &pluginapi.Empty{})
	if err != nil {
		emit("options", false, map[string]any{"error": err.Error()})
	}
	emit("options", opts.GetPreferredAllocationAvailable, map[string]any{
		"get_preferred_allocation_available": opts.GetPreferredAllocationAvailable,
		"pre_start_required":                 opts.PreStartRequired,
	})

	h.mu.Lock()
	healthy, _ := healthyIDs(h.devices[*resource])
	h.mu.Unlock()
	pref, err := plugin.API().GetPreferredAllocation(ctx, &pluginapi.PreferredAllocationRequest{
		ContainerRequests: []*pluginapi.ContainerPreferredAllocationRequest{{
			AvailableDeviceIDs: healthy, AllocationSize: int32(*size),
		}},
	})
	if err != nil {
		emit("preferred", false, map[string]any{"error": err.Error()})
	}
	chosen := pref.ContainerResponses[0].DeviceIDs
	emit("preferred", len(chosen) == *size, map[string]any{"available": healthy, "chosen": chosen})

	alloc, err := plugin.API().Allocate(ctx, &pluginapi.AllocateRequest{
		ContainerRequests: []*pluginapi.ContainerAllocateRequest{{DevicesIds: chosen}},
	})
	if err != nil {
		emit("allocate", false, map[string]any{"error": err.Error()})
	}
	cr := alloc.ContainerResponses[0]
	var devs, mounts []string
	for _, d := range cr.Devices {
		devs = append(devs, d.HostPath+":"+d.ContainerPath+":"+d.Permissions)
	}
	for _, m := range cr.Mounts {
		mounts = append(mounts, fmt.Sprintf("%s:%s:ro=%v", m.HostPath, m.ContainerPath, m.ReadOnly))
	}
	emit("allocate", true, map[string]any{"envs": cr.Envs, "devices": devs, "mounts": mounts})

	// Allocate for an id that does not exist must be refused.
	_, err = plugin.API().Allocate(ctx, &pluginapi.AllocateRequest{
		ContainerRequests: []*pluginapi.ContainerAllocateRequest{{DevicesIds: []string{"Ascend910-999"}}},
	})
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	emit("allocate-unknown", err != nil, map[string]any{"error": msg})

	for i := 1; i <= *restarts; i++ {
		// A kubelet restart: the old server goes away, the new one wipes the sockets and
		// serves kubelet.sock again.
		if err := srv.Stop(); err != nil {
			emit("restart-stop", false, map[string]any{"error": err.Error()})
		}
		restarted := time.Now()
		if err := srv.Start(); err != nil {
			emit("restart-start", false, map[string]any{"error": err.Error()})
		}
		waitRegistered(fmt.Sprintf("re-registered-%d", i), restarted)
	}
	emit("done", true, map[string]any{"summary": strings.Join([]string{"registered", "options", "preferred", "allocate", "restarts"}, ",")})
	return 0
}
