package errkind

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestExitCodes(t *testing.T) {
	require.Equal(t, 0, ExitCode(nil))
	require.Equal(t, 1, ExitCode(User("bad %s", "input")))
	require.Equal(t, 1, ExitCode(errors.New("anything else")))
	env := Env("apt-get install x", "x is missing")
	require.Equal(t, 2, ExitCode(env))
	require.Equal(t, 2, ExitCode(fmt.Errorf("deploy: %w", env)), "wrapped environment errors keep status 2")
	require.Equal(t, "x is missing: apt-get install x", env.Error())
}
