//go:build tools

// Package tools pins kwok. It lives in a module of its own because kwok v0.7.0 is built
// against Kubernetes 0.33 libraries that the 1.34 module next door has moved past.
package tools

import (
	_ "sigs.k8s.io/kwok/cmd/kwok"
)
