//go:build tools

// Package tools pins the Gitea server used by ferry's pull-request tests.
// It is a separate module so Gitea's ~300 dependencies never enter ferry's
// go.mod; e2e/gitea/build.sh builds the binary from here.
package tools

import _ "code.gitea.io/gitea"
