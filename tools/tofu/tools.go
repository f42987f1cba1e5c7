//go:build tools

// Package tools pins OpenTofu, which the remote provider drives (through
// hashicorp/terraform-exec) to create cloud hosts. scripts/install-tofu.sh
// builds it from this module; it is not part of tbctl's build.
package tools

import _ "github.com/opentofu/opentofu/cmd/tofu"
