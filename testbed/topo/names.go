package topo

import (
	"fmt"
	"regexp"
)

// MaxLabName bounds lab names so that derived names (namespaces, CNI
// networks) stay within the kernel's and CNI's limits.
const MaxLabName = 40

var labNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

// CheckLabName says what is wrong with a lab name, or nil.
func CheckLabName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("the lab name is empty")
	case len(name) > MaxLabName:
		return fmt.Errorf("lab name %q is %d characters long; the limit is %d", name, len(name), MaxLabName)
	case !labNameRE.MatchString(name):
		return fmt.Errorf("lab name %q may use only letters, digits, '_', '.' and '-', starting with a letter or digit", name)
	}
	return nil
}
