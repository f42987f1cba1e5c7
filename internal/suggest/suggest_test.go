package suggest

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestClosest(t *testing.T) {
	names := []string{"image", "exec", "binds", "streams", "startup-config"}
	require.Equal(t, "image", Closest("imgae", names), "a transposition is one edit")
	require.Equal(t, "streams", Closest("Stream", names), "case is ignored")
	require.Equal(t, "startup-config", Closest("startup", names), "a shared prefix")
	require.Equal(t, "", Closest("zzz", names))
	require.Equal(t, `did you mean "exec"?`, Hint("exac", names, "fields"))
	require.Equal(t, "valid modes: a, b", Hint("zzzz", []string{"b", "a"}, "modes"))
	require.Equal(t, "", Hint("x", nil, "modes"))
}
