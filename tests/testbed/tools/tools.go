//go:build tools

// Package tools pins the test bed's Go-built programs that are not in kube/main.go, so
// that go.mod and go.sum hold their exact versions. build.sh builds each of them with
// `go build <package>`; nothing imports this file.
package tools

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "helm.sh/helm/v3/cmd/helm"
)
