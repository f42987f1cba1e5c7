// Package errkind classifies errors into the exit statuses of the CLI
// contract: 1 for a user error (bad input, explained), 2 for a failure of the
// environment (missing privilege, kernel feature or binary).
package errkind

import (
	"errors"
	"fmt"
)

// EnvError is a failure of the environment. Fix says, in one line, what to
// install or run.
type EnvError struct {
	What string
	Fix  string
}

func (e *EnvError) Error() string {
	if e.Fix == "" {
		return e.What
	}
	return e.What + ": " + e.Fix
}

// UserError is bad input that the user can correct.
type UserError struct{ Msg string }

func (e *UserError) Error() string { return e.Msg }

// Env returns an EnvError.
func Env(fix, format string, args ...any) error {
	return &EnvError{What: fmt.Sprintf(format, args...), Fix: fix}
}

// User returns a UserError.
func User(format string, args ...any) error {
	return &UserError{Msg: fmt.Sprintf(format, args...)}
}

// ExitCode maps an error to the CLI's exit status: 0, 1 or 2.
func ExitCode(err error) int {
	var env *EnvError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &env):
		return 2
	default:
		return 1
	}
}
