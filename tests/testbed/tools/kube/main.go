// Command kube is one binary that carries the Kubernetes components the test bed
// runs: kube-apiserver, kube-controller-manager, kube-scheduler, kubelet and kubectl.
//
// Linking them into one executable (the old "hyperkube" idea) keeps the cold build of
// the test bed inside CI's time limit: the packages they share are compiled and linked
// once instead of five times. The component is chosen by the name the binary is
// invoked as (the build script makes symlinks), or by the first argument:
//
//	kube kube-apiserver --help
//	ln -s kube kubectl && ./kubectl version
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	_ "time/tzdata" // CronJob time zones, as the upstream mains import it

	"k8s.io/component-base/cli"
	"k8s.io/component-base/logs"
	_ "k8s.io/component-base/logs/json/register"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
	kubectlcmd "k8s.io/kubectl/pkg/cmd"
	kubectlutil "k8s.io/kubectl/pkg/cmd/util"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
	kubelet "k8s.io/kubernetes/cmd/kubelet/app"

	_ "k8s.io/client-go/plugin/pkg/client/auth"
)

// components maps an invocation name to a function that runs it and returns the exit code.
var components = map[string]func() int{
	"kube-apiserver":          func() int { return cli.Run(apiserver.NewAPIServerCommand()) },
	"kube-controller-manager": func() int { return cli.Run(controllermanager.NewControllerManagerCommand()) },
	"kube-scheduler":          func() int { return cli.Run(scheduler.NewSchedulerCommand()) },
	"kubelet":                 func() int { return cli.Run(kubelet.NewKubeletCommand(context.Background())) },
	"kubectl":                 runKubectl,
	"devicemanager-harness":   runDeviceManagerHarness,
}

func runKubectl() int {
	// Same order as kubectl's own main: verbosity first, so klog works while the
	// command tree (plugins, .kuberc) is built.
	logs.GlogSetter(kubectlcmd.GetLogVerbosity(os.Args)) // nolint:errcheck
	command := kubectlcmd.NewDefaultKubectlCommand()
	if err := cli.RunNoErrOutput(command); err != nil {
		kubectlutil.CheckErr(err)
	}
	return 0
}

func usage() int {
	names := make([]string, 0, len(components))
	for n := range components {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintf(os.Stderr, "usage: kube <component> [flags]  (or invoke through a symlink named after the component)\ncomponents:\n")
	for _, n := range names {
		fmt.Fprintf(os.Stderr, "  %s\n", n)
	}
	return 2
}

func main() {
	name := filepath.Base(os.Args[0])
	run, ok := components[name]
	if !ok {
		if len(os.Args) < 2 {
			os.Exit(usage())
		}
		run, ok = components[os.Args[1]]
		if !ok {
			fmt.Fprintf(os.Stderr, "kube: unknown component %q\n", os.Args[1])
			os.Exit(usage())
		}
		// Drop the component word so cobra sees the component's own flags.
		os.Args = append([]string{os.Args[1]}, os.Args[2:]...)
	}
	os.Exit(run())
}
