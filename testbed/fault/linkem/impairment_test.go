package linkem

import (
	"encoding/binary"
	"encoding/json"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestValidate(t *testing.T) {
	assert.NoError(t, Impairment{}.Validate())
	assert.NoError(t, Impairment{Delay: 10 * time.Millisecond, Jitter: time.Millisecond, ReorderPct: 25, GE: &GilbertElliott{P: 0.01, R: 0.3, H: 0, K: 1}}.Validate())
	for _, c := range []struct {
		imp  Impairment
		want string
	}{
		{Impairment{Delay: -1}, "delay -1ns is negative"},
		{Impairment{Jitter: -1}, "jitter -1ns is negative"},
		{Impairment{LossPct: 101}, "loss 101%: want a percentage from 0 to 100"},
		{Impairment{DuplicatePct: -1}, "duplicate -1%"},
		{Impairment{ReorderPct: 10}, "reorder 10% needs a delay"},
		{Impairment{Direction: "up"}, `direction "up"`},
		{Impairment{Distribution: "pareto"}, `distribution "pareto"`},
		{Impairment{RateMbps: -5}, "rate -5 Mbit/s is negative"},
		{Impairment{QueueLimit: -1}, "queue limit -1 is negative"},
		{Impairment{GE: &GilbertElliott{P: 2, K: 1}}, "gilbert-elliott p=2"},
		{Impairment{GE: &GilbertElliott{P: 0.1}}, "k=0 drops every frame"},
		{Impairment{LossPct: 1, GE: &GilbertElliott{P: 0.1, K: 1}}, "give one or the other"},
	} {
		err := c.imp.Validate()
		if assert.Error(t, err, "%+v", c.imp) {
			assert.Contains(t, err.Error(), c.want)
		}
	}
}

func TestImpairmentJSON(t *testing.T) {
	imp := Impairment{Direction: AtoB, Delay: 20 * time.Millisecond, GE: &GilbertElliott{P: 0.1, R: 0.5, H: 0.2, K: 1}, RateMbps: 50, Seed: 7}
	js, err := json.Marshal(imp)
	require.NoError(t, err)
	var back Impairment
	require.NoError(t, json.Unmarshal(js, &back))
	assert.Equal(t, imp, back)
}

// frameOf builds a frame with a vnet header, as the relay reads it.
func frameOf(n int) []byte {
	b := make([]byte, vnetHdrLen+n)
	for i := range n {
		b[vnetHdrLen+i] = byte(i)
	}
	return b
}

// drain counts what a pipe would send, without sockets.
func runPipe(t *testing.T, imp Impairment, n int) Counters {
	p := newPipe(AtoB, -1, -1, imp)
	now := time.Now()
	for range n {
		p.c.received.Add(1)
		p.handle(frameOf(100), now)
	}
	c := p.counters()
	return c
}

func TestLossModels(t *testing.T) {
	c := runPipe(t, Impairment{LossPct: 30, QueueLimit: 100000, Delay: time.Hour}, 100000)
	assert.InDelta(t, 30000, float64(c.Lost), 600)
	assert.Equal(t, 100000-int(c.Lost), c.Queued)

	// Gilbert: mean loss p/(p+r) with h=0, k=1.
	g := &GilbertElliott{P: 0.05, R: 0.45, H: 0, K: 1}
	c = runPipe(t, Impairment{GE: g, QueueLimit: 100000, Delay: time.Hour}, 100000)
	assert.InDelta(t, 10000, float64(c.Lost), 600)

	c = runPipe(t, Impairment{DuplicatePct: 10, QueueLimit: 200000, Delay: time.Hour}, 100000)
	assert.InDelta(t, 10000, float64(c.Duplicated), 500)
	assert.Equal(t, 100000+int(c.Duplicated), c.Queued)
}

func TestQueueLimitAndRate(t *testing.T) {
	p := newPipe(AtoB, -1, -1, Impairment{RateMbps: 8, QueueLimit: 10})
	now := time.Now()
	for range 20 {
		p.handle(frameOf(1000), now)
	}
	c := p.counters()
	assert.Equal(t, 10, c.Queued)
	assert.EqualValues(t, 10, c.QueueDropped)
	// At 8 Mbit/s a 1000-byte frame takes 1 ms: the tenth leaves 10 ms on.
	var last int64
	for _, f := range p.q {
		last = max(last, f.t)
	}
	assert.Equal(t, 10*time.Millisecond, time.Duration(last-now.UnixNano()))
}

func TestDelayKeepsOrderWithoutJitter(t *testing.T) {
	p := newPipe(AtoB, -1, -1, Impairment{Delay: 5 * time.Millisecond, ReorderPct: 50, Seed: 1})
	now := time.Now()
	for range 100 {
		p.handle(frameOf(60), now)
	}
	immediate := 0
	for _, f := range p.q {
		if f.t == now.UnixNano() {
			immediate++
		} else {
			assert.Equal(t, now.Add(5*time.Millisecond).UnixNano(), f.t)
		}
	}
	assert.InDelta(t, 50, immediate, 20)
}

func TestJitterDistributions(t *testing.T) {
	p := newPipe(AtoB, -1, -1, Impairment{})
	p.rng = rand.New(rand.NewPCG(1, 2))
	for _, dist := range []string{Normal, Uniform} {
		imp := &Impairment{Delay: 10 * time.Millisecond, Jitter: 2 * time.Millisecond, Distribution: dist}
		var sum float64
		for range 10000 {
			d := time.Duration(p.delay(imp))
			assert.GreaterOrEqual(t, d, 6*time.Millisecond)
			assert.LessOrEqual(t, d, 14*time.Millisecond)
			sum += float64(d)
		}
		assert.InDelta(t, float64(10*time.Millisecond), sum/10000, float64(100*time.Microsecond))
	}
}

func TestCorruptComputesChecksum(t *testing.T) {
	// An Ethernet + IPv4 + UDP frame whose checksum is left to the device.
	pkt := frameOf(14 + 20 + 8 + 32)
	fr := pkt[vnetHdrLen:]
	pkt[0] = vnetNeedsCsum
	binary.NativeEndian.PutUint16(pkt[6:], 34)
	binary.NativeEndian.PutUint16(pkt[8:], 6)
	binary.BigEndian.PutUint16(fr[34+6:], 0x1234) // the pseudo-header seed
	clean := append([]byte(nil), pkt...)
	corrupt(pkt, rand.New(rand.NewPCG(3, 4)))
	assert.Zero(t, pkt[0]&vnetNeedsCsum)
	diff := 0
	for i := vnetHdrLen + 14; i < len(pkt); i++ {
		if x := pkt[i] ^ clean[i]; x != 0 && i != vnetHdrLen+34+6 && i != vnetHdrLen+34+7 {
			diff++
		}
	}
	assert.Equal(t, 1, diff)
	// The checksum covers the clean frame: over it and the pseudo-header
	// (the seed stands for it) the sum folds to all ones.
	cl := append([]byte(nil), clean[vnetHdrLen:]...)
	copy(cl[34+6:], fr[34+6:34+8])
	s := uint32(checksum(cl[34:])) + 0x1234
	assert.Equal(t, uint32(0xffff), s&0xffff+s>>16)
}

func TestWireLen(t *testing.T) {
	pkt := frameOf(14 + 20 + 20 + 2896)
	assert.Equal(t, 14+20+20+2896, wireLen(pkt))
	pkt[1] = gsoTCPv4
	binary.NativeEndian.PutUint16(pkt[4:], 1448)
	binary.NativeEndian.PutUint16(pkt[6:], 34)
	pkt[vnetHdrLen+34+12] = 5 << 4
	assert.Equal(t, 2*(14+20+20+1448), wireLen(pkt))
}
