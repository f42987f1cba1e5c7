package roles

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

type testParams struct {
	Mode     string        `param:"mode" help:"what to do"`
	Target   string        `param:"target" help:"peer" ref:"node"`
	Streams  int           `param:"streams" help:"parallel connections"`
	Rate     float64       `param:"rate" help:"requests per second"`
	Duration time.Duration `param:"duration" help:"how long"`
	Quiet    bool          `param:"quiet" help:"say less"`
	Ports    []int         `param:"ports" help:"ports"`
}

var testRole = &Role{
	Name:    "test",
	Summary: "a role for tests",
	Params: func() any {
		return &testParams{Mode: "tcp", Streams: 1, Duration: 10 * time.Second}
	},
	Run: func(ctx context.Context, env *Env, params any) error { return nil },
}

func TestDecodeFillsAndKeepsDefaults(t *testing.T) {
	p, err := testRole.Decode(map[string]any{"streams": 4, "rate": 2.5, "duration": "250ms", "quiet": true, "ports": []any{1, 2}, "target": "198.18.0.1"}, "roles.x.params")
	require.NoError(t, err)
	got := p.(*testParams)
	require.Equal(t, testParams{Mode: "tcp", Target: "198.18.0.1", Streams: 4, Rate: 2.5, Duration: 250 * time.Millisecond, Quiet: true, Ports: []int{1, 2}}, *got)
}

func TestDecodeReportsEveryBadParameterWithItsPath(t *testing.T) {
	_, err := testRole.Decode(map[string]any{"stream": 4, "rate": "fast", "duration": 10, "streams": 1.5, "ports": []any{"x"}}, "roles.x.params")
	require.Error(t, err)
	errs := err.(ParamErrors)
	require.Len(t, errs, 5)
	msgs := err.Error()
	for _, want := range []string{
		`roles.x.params.stream: role test has no parameter "stream" (did you mean "streams"?)`,
		`roles.x.params.rate: want a number, got fast`,
		`roles.x.params.duration: want a duration such as 10s or 250ms, got 10`,
		`roles.x.params.streams: want an integer, got 1.5`,
		`roles.x.params.ports: item 0: want an integer, got x`,
	} {
		require.Contains(t, msgs, want)
	}
}

func TestDescribeListsTypesDefaultsAndRefs(t *testing.T) {
	ps := testRole.Describe()
	require.Len(t, ps, 7)
	require.Equal(t, Param{Name: "mode", Type: "string", Default: `"tcp"`, Help: "what to do"}, ps[0])
	require.True(t, ps[1].Ref)
	require.Equal(t, "duration", ps[4].Type)
	require.Equal(t, "10s", ps[4].Default)
	require.Equal(t, "list of integer", ps[6].Type)
	require.Equal(t, []string{"target"}, testRole.RefParams())
}
