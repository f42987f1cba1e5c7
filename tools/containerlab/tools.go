//go:build tools

// Package tools pins github.com/srl-labs/containerlab (the main package, i.e.
// the containerlab command) so that `go build github.com/srl-labs/containerlab`
// in this module builds the pinned release.
package tools

import _ "github.com/srl-labs/containerlab"
