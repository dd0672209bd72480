//go:build tools

// Package tools pins Karpenter's kwok cloud provider (the module's kwok/ folder, main package
// sigs.k8s.io/karpenter/kwok) for the test bed: tests/testbed/tools/autoscalers/build.sh
// builds it from the Go module proxy into the tools cache.
package tools

import _ "sigs.k8s.io/karpenter/kwok"
