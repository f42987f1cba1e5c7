package diagnose

import (
	"bytes"
	"context"
	"encoding/json"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tbctl/tbctl/roles/collective"
)

// slowTransport delays every chunk a little so that a collective lasts
// several snapshot intervals; it keeps the in-memory transport's
// acknowledgements and abort.
type slowTransport struct {
	collective.Transport
	collective.Acker
	collective.Aborter
	collective.Channeler
}

func (s slowTransport) Send(ch int, b []byte) error {
	time.Sleep(200 * time.Microsecond)
	return s.Transport.Send(ch, b)
}

// jsonKeys returns the JSON names of t's fields.
func jsonKeys(t reflect.Type) []string {
	var k []string
	for f := range t.Fields() {
		k = append(k, strings.Split(f.Tag.Get("json"), ",")[0])
	}
	return k
}

func keysOf(m map[string]any) []string {
	var k []string
	for key := range m {
		k = append(k, key)
	}
	return k
}

func sorted(s []string) []string { s = append([]string(nil), s...); sort.Strings(s); return s }

// TestDecodeRealTracer runs a small in-memory AllReduce with a
// collective.Tracer per rank and decodes what it wrote: every field the
// writer emits has a place in the records, and the values add up.
func TestDecodeRealTracer(t *testing.T) {
	const n, nc, ops = 4, 2, 3
	ts := collective.MemRing(n, nc, 4)
	bufs := make([]*bytes.Buffer, n)
	trs := make([]*collective.Tracer, n)
	for r := range n {
		bufs[r] = new(bytes.Buffer)
		trs[r] = collective.NewTracer(bufs[r], time.Millisecond)
		defer trs[r].Close()
	}
	opts := collective.Options{ChunkBytes: 1 << 10, Channels: nc}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for range ops {
		errs := make(chan error, n)
		for r := range n {
			tr := ts[r]
			st := slowTransport{tr, tr.(collective.Acker), tr.(collective.Aborter), tr.(collective.Channeler)}
			go func() {
				data := make([]float32, 16<<10)
				for i := range data {
					data[i] = float32(r)
				}
				errs <- collective.AllReduce(ctx, r, n, data, st, opts, trs[r])
			}()
		}
		for range n {
			require.NoError(t, <-errs)
		}
	}
	g := NewRing(0)
	var states int
	for r := range n {
		require.NoError(t, trs[r].Err())
		raw := bufs[r].Bytes()
		// Field names: each line's keys are exactly the struct's.
		for line := range strings.SplitSeq(strings.TrimSpace(string(raw)), "\n") {
			var m map[string]any
			require.NoError(t, json.Unmarshal([]byte(line), &m), line)
			switch m["type"] {
			case "completion":
				keys := keysOf(m)
				if _, ok := m["error"]; !ok {
					keys = append(keys, "error") // written only on failure
				}
				require.Equal(t, sorted(append(jsonKeys(reflect.TypeFor[Completion]()), "type")), sorted(keys), line)
			case "state":
				require.Equal(t, sorted(append(jsonKeys(reflect.TypeFor[State]()), "type")), sorted(keysOf(m)), line)
				for _, c := range m["channels"].([]any) {
					require.Equal(t, sorted(jsonKeys(reflect.TypeFor[ChannelState]())), sorted(keysOf(c.(map[string]any))), line)
				}
			default:
				t.Fatalf("unknown record %s", line)
			}
		}
		recs, err := DecodeAll(bytes.NewReader(raw))
		require.NoError(t, err)
		for _, rec := range recs {
			require.Equal(t, r, rec.Rank())
			if s := rec.State; s != nil {
				states++
				require.Len(t, s.Channels, nc)
				require.GreaterOrEqual(t, s.Op, uint64(1))
				require.LessOrEqual(t, s.Op, uint64(ops))
				for i, c := range s.Channels {
					require.Equal(t, i, c.Ch)
					require.Equal(t, (r+1)%n, c.Right)
					require.Equal(t, (r+n-1)%n, c.Left)
					require.LessOrEqual(t, c.Acked, c.Sent)
					require.LessOrEqual(t, c.Sent, c.Ready)
					require.LessOrEqual(t, c.Ready, c.ToSend)
					require.LessOrEqual(t, c.Recvd, c.ToRecv)
					require.Positive(t, c.ToSend)
					require.Equal(t, min(c.SinceSendNS, c.SinceRecvNS), c.SinceProgressNS)
				}
			}
			g.Add(rec)
		}
	}
	require.Positive(t, states, "no state records: the collective finished within one interval")
	require.Equal(t, n, g.N)
	for r := range n {
		v := &g.Ranks[r]
		require.Len(t, v.Completions, ops)
		_, inFlight := v.InFlight()
		require.False(t, inFlight)
		var sent, recvd int64
		for i, c := range v.Completions {
			require.Equal(t, uint64(i+1), c.Op)
			require.Equal(t, r, c.Rank)
			require.Equal(t, n, c.N)
			require.Equal(t, int64(16<<10*4), c.Bytes)
			require.Equal(t, (r+n-1)%n, c.Left)
			require.Equal(t, (r+1)%n, c.Right)
			require.Equal(t, nc, c.Channels)
			require.Empty(t, c.Error)
			require.Equal(t, c.EndMonoNS-c.StartMonoNS, c.DurationNS)
			require.Positive(t, c.Duration())
			require.GreaterOrEqual(t, c.EndUnixNS, c.StartUnixNS)
			sent += c.ChunksSent
			recvd += c.ChunksRecvd
		}
		require.Positive(t, sent)
		require.Positive(t, recvd)
	}
	// Every chunk sent is received: the ring's totals agree.
	var sent, recvd int64
	for r := range n {
		for _, c := range g.Ranks[r].Completions {
			sent += c.ChunksSent
			recvd += c.ChunksRecvd
		}
	}
	require.Equal(t, sent, recvd)
	require.Empty(t, Detect(g, time.Now(), Options{}))
}
