//go:build tools

// Package tools pins Kueue (the test bed's queueing tier) so that go.mod and go.sum hold its
// exact version and dependencies. build.sh builds `go build sigs.k8s.io/kueue/cmd/kueue` here;
// nothing imports this file.
package tools

import (
	_ "sigs.k8s.io/kueue/cmd/kueue"
)
