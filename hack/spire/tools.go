//go:build tools

// Package tools pins the upstream commands built by hack/build-spire.sh.
package tools

import (
	_ "github.com/spiffe/spire-controller-manager/cmd"
	_ "github.com/spiffe/spire/cmd/spire-server"
)
