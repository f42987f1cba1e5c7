package collectors

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestWriterWritesChanges checks that a series is written where it
// changes, with the flat stretch's last sample before a change, and its
// final sample at Finish.
func TestWriterWritesChanges(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	values := []float64{5, 5, 5, 7, 8, 8, 8}
	var monos []int64
	for _, v := range values {
		s := []Sample{{Source: "netdev", Node: "h1", Object: "eth1", Metric: "rx_bytes", Value: v}, {Source: "netdev", Node: "h1", Object: "eth1", Metric: "rx_errors", Value: 0}}
		require.NoError(t, w.Write(s))
		monos = append(monos, s[0].MonoNS)
	}
	require.NoError(t, w.Finish())
	type line struct {
		Mono   int64   `json:"mono_ns"`
		Metric string  `json:"metric"`
		Value  float64 `json:"value"`
	}
	var got []line
	dec := json.NewDecoder(&buf)
	for dec.More() {
		var l line
		require.NoError(t, dec.Decode(&l))
		got = append(got, l)
	}
	want := []line{
		{monos[0], "rx_bytes", 5}, {monos[0], "rx_errors", 0},
		{monos[2], "rx_bytes", 5}, {monos[3], "rx_bytes", 7},
		{monos[4], "rx_bytes", 8},
	}
	// Finish: the last samples not yet written, in time order.
	want = append(want, line{monos[6], "rx_bytes", 8}, line{monos[6], "rx_errors", 0})
	assert.Equal(t, want, got)
}
