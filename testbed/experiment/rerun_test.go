package experiment

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDocumentRerunsTheSameSweep checks that the document written into run
// directories keeps the file's key order (the sweep's order, hence its
// seeds), applies --set, and points at the copied topology.
func TestDocumentRerunsTheSameSweep(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "t.yaml"), []byte("name: t\n"), 0o644))
	src := head + `roles:
  a: {role: r, node: h1, params: {streams: 1, cc: cubic}}
sweep:
  cartesian:
    roles.a.params.streams: [1, 4]   # streams first
    roles.a.params.cc: [cubic, reno]
`
	path := filepath.Join(dir, "e.yaml")
	require.NoError(t, os.WriteFile(path, []byte(src), 0o644))
	e, err := Load(path, []string{"duration=3s"})
	require.NoError(t, err)
	doc, err := e.Document("topology.yaml")
	require.NoError(t, err)
	assert.Contains(t, string(doc), "topology:\n  file: topology.yaml\n")
	assert.Contains(t, string(doc), "duration: 3s")
	assert.Contains(t, string(doc), "# streams first")

	// Parsed again, the document gives the same points in the same order.
	again := filepath.Join(dir, "again.yaml")
	require.NoError(t, os.WriteFile(again, doc, 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "topology.yaml"), []byte("name: t\n"), 0o644))
	e2, err := Load(again, nil)
	require.NoError(t, err)
	p1, p2 := e.Points(), e2.Points()
	require.Len(t, p2, 4)
	for i := range p1 {
		assert.Equal(t, p1[i].Label, p2[i].Label)
		assert.Equal(t, e.SeedFor(i, 0), e2.SeedFor(i, 0))
	}
	assert.Equal(t, 3e9, float64(e2.Duration))
}
