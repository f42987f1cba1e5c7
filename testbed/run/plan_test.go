package run

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tbctl/tbctl/testbed/experiment"
)

func TestSubdirAndLabels(t *testing.T) {
	p := &Plan{Exp: &experiment.Experiment{Repetitions: 2}, Point: experiment.Point{Index: 2, Label: "streams=4,cc=reno"}, Rep: 2}
	require.Equal(t, "p03-streams=4,cc=reno/r02", p.Subdir(8))
	require.Equal(t, ".", p.Subdir(1))
	require.Equal(t, "streams=4,cc=reno rep 2", p.Label())
	require.Equal(t, "run", (&Plan{Exp: &experiment.Experiment{Repetitions: 1}}).Label())
	name := labName("a-very-long-experiment-name", "20261123T000000Z-beef", 12)
	require.Equal(t, "a-very-long-experime-beef-12", name)
	require.LessOrEqual(t, len(name), 40)
}
