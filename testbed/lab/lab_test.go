package lab

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestOwnerPrefersTheLongestLabName(t *testing.T) {
	labs := []string{"a", "a-b"}
	owner, ok := Owner("tb-a-b-c", "tb", labs)
	require.True(t, ok)
	require.Equal(t, "a-b", owner)
	owner, ok = Owner("tb-a-x", "tb", labs)
	require.True(t, ok)
	require.Equal(t, "a", owner)
	_, ok = Owner("tb-c-x", "tb", labs)
	require.False(t, ok)
	_, ok = Owner("other", "tb", labs)
	require.False(t, ok)
}

func TestCreateRefusesALabThatExists(t *testing.T) {
	RunDir = t.TempDir()
	l := Open("demo")
	require.False(t, l.Exists())
	require.NoError(t, l.Create(&Record{Name: "demo", Provider: "netns"}))
	require.True(t, l.Exists())
	err := Open("demo").Create(&Record{Name: "demo"})
	require.ErrorContains(t, err, "already deployed")

	rec, err := l.Load()
	require.NoError(t, err)
	require.Equal(t, "netns", rec.Provider)
	names, err := List()
	require.NoError(t, err)
	require.Equal(t, []string{"demo"}, names)
	require.NoError(t, l.Remove())
	require.False(t, l.Exists())
}

func TestNamespaceName(t *testing.T) {
	require.Equal(t, "tb-lab-h1", NamespaceName("tb", "lab", "h1"))
	require.Equal(t, "lab-h1", NamespaceName("", "lab", "h1"))
}
