// Pins the OpenTofu release tbctl's remote provider is tested with.
// scripts/install-tofu.sh builds it from here (GOFLAGS=-mod=mod); this
// module is not part of tbctl's build.
module github.com/tbctl/tbctl/tools/tofu

go 1.26

require github.com/opentofu/opentofu v1.10.6

// OpenTofu's own go.mod replaces HCL with its fork; a dependency's replace
// directives do not apply to the module that builds it, so it is repeated
// here.
replace github.com/hashicorp/hcl/v2 v2.20.1 => github.com/opentofu/hcl/v2 v2.20.2-0.20250121132637-504036cd70e7
