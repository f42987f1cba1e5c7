package fault

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestJournalKeepsTheLastStateOfEachFault(t *testing.T) {
	j := openJournal(t.TempDir())
	id, err := j.nextID()
	require.NoError(t, err)
	require.Equal(t, "f1", id)
	f := &Fault{ID: id, Code: "net.rate", Target: "a:eth1", State: StateApplying, Undo: []Step{{Do: "qdisc-delete", NS: "/run/netns/x", Iface: "eth1"}}}
	require.NoError(t, j.write(f))
	f.State = StateApplied
	require.NoError(t, j.write(f))
	require.NoError(t, j.write(&Fault{ID: "f2", Code: "node.pause", State: StateApplying}))

	cur, err := j.current()
	require.NoError(t, err)
	require.Len(t, cur, 2)
	require.Equal(t, StateApplied, cur[0].State)
	require.Equal(t, "qdisc-delete", cur[0].Undo[0].Do, "the undo survives the round trip")
	require.True(t, cur[1].Active())
	next, err := j.nextID()
	require.NoError(t, err)
	require.Equal(t, "f3", next)
	hist, err := j.history()
	require.NoError(t, err)
	require.Len(t, hist, 3)
	require.NotZero(t, hist[0].Mono)
}

func TestOwnerAliveTellsProcessesApart(t *testing.T) {
	me := self()
	require.True(t, me.Alive())
	require.False(t, (&Owner{PID: me.PID, Start: me.Start + 1}).Alive(), "a reused PID is not the owner")
	require.False(t, (&Owner{PID: 1 << 30, Start: 1}).Alive())
	var none *Owner
	require.False(t, none.Alive())
	require.NotEqual(t, 0, os.Getpid())
}

func TestCheckSpec(t *testing.T) {
	require.NoError(t, CheckSpec("net.rate", map[string]string{"mbps": "10"}))
	require.NoError(t, CheckSpec("net.link_flap", nil), "defaults fill period and duty")
	for _, c := range []struct {
		code   string
		params map[string]string
		want   string
	}{
		{"net.rat", nil, `did you mean "net.rate"?`},
		{"net.rate", nil, "parameter mbps is required"},
		{"net.rate", map[string]string{"mbps": "0"}, "use net.link_down"},
		{"net.rate", map[string]string{"mbps": "x"}, "want a number"},
		{"net.rate", map[string]string{"mbps": "1", "queue": "-1s"}, "positive duration"},
		{"net.loss", map[string]string{"percent": "130"}, "at most 100"},
		{"net.loss", map[string]string{"precent": "3"}, `did you mean "percent"?`},
		{"net.partition", map[string]string{"oneway": "maybe"}, "true or false"},
	} {
		err := CheckSpec(c.code, c.params)
		require.Error(t, err, c.code)
		require.Contains(t, err.Error(), c.want, c.code)
	}
}

func TestCatalogueIsSortedAndComplete(t *testing.T) {
	cat := Catalogue()
	for i := 1; i < len(cat); i++ {
		require.Less(t, cat[i-1].Code, cat[i].Code)
	}
	for _, k := range cat {
		require.NotEmpty(t, k.Summary, k.Code)
		require.NotEmpty(t, k.Field, k.Code)
		require.Contains(t, []string{OnLink, OnInterface, OnNode, OnNodes, OnRole}, k.Target, k.Code)
	}
}
