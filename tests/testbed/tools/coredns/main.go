// Command coredns is CoreDNS with only the plugins the test bed needs: cluster DNS for the
// real node (the kubernetes plugin answers <pod-hostname>.<subdomain>.<ns>.svc.cluster.local
// for a job's headless Service, which the stand-in workload's ranks resolve as MASTER_ADDR),
// forward for everything else, bind (listen on one address, e.g. the node's, rather than on
// all), and errors, log, health, ready, cache.
//
// Upstream's main imports core/plugin, which pulls in every plugin (cloud DNS providers,
// etcd, dnstap, ...); importing only these and setting the directive list to match keeps
// the build smaller. The order below is upstream's (core/dnsserver/zdirectives.go): the
// plugin chain runs in this order whatever order a Corefile names them in.
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/forward"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/ready"
)

func init() {
	dnsserver.Directives = []string{
		"bind",
		"ready",
		"health",
		"errors",
		"log",
		"cache",
		"kubernetes",
		"forward",
	}
}

func main() {
	coremain.Run()
}
