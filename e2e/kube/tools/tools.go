//go:build tools

// Package tools pins the kube-apiserver that ferry's Kubernetes tests run
// against. It is a separate module so k8s.io/kubernetes and its dependencies
// never enter ferry's go.mod; e2e/kube/build.sh builds the binary from here.
package tools

import _ "k8s.io/kubernetes/cmd/kube-apiserver"
