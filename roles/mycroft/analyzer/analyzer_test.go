package analyzer

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tbctl/tbctl/roles"
	"github.com/tbctl/tbctl/roles/mycroft/diagnose"
)

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestLoopDiagnosesOnceThenRecovers drives the analyzer's state machine
// with records of a 3-rank ring whose rank 2 stopped between collectives:
// one trigger, one diagnosis naming rank 2's node, nothing more while the
// incident lasts, and "recovered" once the ring moves again.
func TestLoopDiagnosesOnceThenRecovers(t *testing.T) {
	events := &syncBuf{}
	p := defaults().(*Params)
	p.Check, p.Settle, p.Recover = 10*time.Millisecond, 30*time.Millisecond, 100*time.Millisecond
	a := &analyzer{
		p:     p,
		env:   &roles.Env{Events: roles.NewEventLog(events, nil)},
		opts:  diagnose.Options{HangAfter: time.Second, BaselineOps: 5, RecentOps: 3, SlowFactor: 3, LinkSlowFactor: 3},
		nodes: map[string]string{"0": "h1", "1": "h2", "2": "h3"},
		ring:  diagnose.NewRing(3),
		watch: map[int]bool{0: true},
	}
	lines := make(chan line, 1024)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); a.loop(ctx, lines) }()
	defer func() { cancel(); <-done }()

	now := time.Now()
	comp := func(rank int, op uint64, end time.Time) {
		lines <- line{rec: diagnose.Record{Completion: &diagnose.Completion{Op: op, Rank: rank, N: 3,
			StartUnixNS: end.Add(-20 * time.Millisecond).UnixNano(), EndUnixNS: end.UnixNano(), DurationNS: int64(20 * time.Millisecond)}}}
	}
	// Twelve healthy collectives ending 2 s ago.
	for op := uint64(1); op <= 12; op++ {
		for r := range 3 {
			comp(r, op, now.Add(-2*time.Second-time.Duration(12-op)*50*time.Millisecond))
		}
	}
	// Ranks 0 and 1 entered op 13 and made no progress for 1.2 s; rank 2
	// never entered it.
	for r := range 2 {
		lines <- line{rec: diagnose.Record{State: &diagnose.State{Op: 13, Rank: r, UnixNS: now.UnixNano(),
			Channels: []diagnose.ChannelState{{Ch: 0, Ready: 1, Sent: 1, Acked: 0, ToSend: 4, Recvd: 0, ToRecv: 4,
				SinceSendNS: int64(1200 * time.Millisecond), SinceRecvNS: int64(1200 * time.Millisecond), SinceProgressNS: int64(1200 * time.Millisecond)}}}}}
	}
	require.Eventually(t, func() bool { return strings.Contains(events.String(), `"event":"diagnosis"`) }, 5*time.Second, 10*time.Millisecond)
	out := events.String()
	require.Contains(t, out, `"class":"rank-not-entered"`)
	require.Contains(t, out, `"root_node":"h3"`)
	require.Equal(t, 1, strings.Count(out, `"event":"triggered"`))

	// Still hung: no second diagnosis.
	time.Sleep(200 * time.Millisecond)
	require.Equal(t, 1, strings.Count(events.String(), `"event":"diagnosis"`))

	// The ring moves again: every rank completes ops 13..20 at the old pace.
	t1 := time.Now()
	for op := uint64(13); op <= 20; op++ {
		for r := range 3 {
			comp(r, op, t1.Add(time.Duration(op-13)*10*time.Millisecond))
		}
	}
	require.Eventually(t, func() bool { return strings.Contains(events.String(), `"event":"recovered"`) }, 5*time.Second, 10*time.Millisecond)
	require.Equal(t, 1, strings.Count(events.String(), `"event":"diagnosis"`))
}

func TestBadParams(t *testing.T) {
	p := defaults().(*Params)
	p.Sample, p.Port, p.SlowFactor, p.Settle = 0, 70000, 1, 0
	err := p.check()
	require.Error(t, err)
	for _, want := range []string{"ranks must list", "port 70000", "sample must be at least 1", "slow_factor and link_slow_factor must be above 1", "settle must be positive"} {
		require.Contains(t, err.Error(), want)
	}
}
