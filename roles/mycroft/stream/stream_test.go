package stream

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func rec(kind string, op int) []byte {
	return fmt.Appendf(nil, `{"type":%q,"op":%d,"rank":1}`+"\n", kind, op)
}

func next(t *testing.T, c *Conn) string {
	t.Helper()
	c.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := c.Next()
	require.NoError(t, err)
	return string(line)
}

// TestWantCompletionsThenAll: a reader gets completions only until it asks
// for everything, then the states held from before, then everything live;
// nothing written before it connected comes as a completion.
func TestWantCompletionsThenAll(t *testing.T) {
	h := NewHub()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- h.Serve(ctx, ln, Hello{Rank: 1, Ranks: 4, Node: "h2"}) }()

	h.Write(rec("completion", 1)) // before the reader: not sent
	c, err := Dial(ctx, ln.Addr().String())
	require.NoError(t, err)
	require.Equal(t, Hello{Type: "hello", Rank: 1, Ranks: 4, Node: "h2"}, c.Hello)
	time.Sleep(50 * time.Millisecond) // let the server take its start position

	h.Write(rec("state", 2))
	h.Write(rec("state", 2))
	h.Write(rec("completion", 2))
	require.Contains(t, next(t, c), `"completion","op":2`)

	require.NoError(t, c.Want(WantAll))
	// Replay of everything held, from the oldest: the completion of op 1
	// (held, never sent), two states, the completion of op 2 again.
	var got []string
	for range 4 {
		got = append(got, next(t, c))
	}
	require.Contains(t, got[0], `"completion","op":1`)
	require.Contains(t, got[1], `"state","op":2`)
	require.Contains(t, got[2], `"state","op":2`)
	require.Contains(t, got[3], `"completion","op":2`)
	h.Write(rec("state", 3))
	require.Contains(t, next(t, c), `"state","op":3`)

	require.NoError(t, c.Want(WantCompletions))
	time.Sleep(50 * time.Millisecond)
	h.Write(rec("state", 4))
	h.Write(rec("completion", 4))
	require.Contains(t, next(t, c), `"completion","op":4`)

	cancel()
	require.NoError(t, <-served)
	_, err = c.Next()
	require.Error(t, err, "the stream ends with the rank")
	c.Close()
}

// TestSlowReaderSkips: a hub never blocks its writer; a reader that is
// behind by more than Keep records skips the excess and it is counted.
func TestSlowReaderSkips(t *testing.T) {
	h := NewHub()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go h.Serve(ctx, ln, Hello{})
	c, err := Dial(ctx, ln.Addr().String())
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.Want(WantAll))
	time.Sleep(50 * time.Millisecond)
	pad := strings.Repeat("x", 4000)
	start := time.Now()
	for i := range 20 * Keep { // ~80 MB: more than the socket buffers hold
		h.Write(fmt.Appendf(nil, `{"type":"state","op":%d,"pad":%q}`+"\n", i, pad))
	}
	require.Less(t, time.Since(start), 10*time.Second)
	last := -1
	for {
		line := next(t, c)
		var op int
		fmt.Sscanf(line, `{"type":"state","op":%d`, &op)
		require.Greater(t, op, last, "records come in order")
		last = op
		if op == 20*Keep-1 {
			break
		}
	}
	require.Positive(t, h.Dropped.Load())
}
