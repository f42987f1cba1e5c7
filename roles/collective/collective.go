// Package collective is a ring AllReduce over TCP with Mycroft-style
// progress tracing, used by the mycroft role. N ranks each hold a buffer of
// float32; AllReduce leaves on every rank the element-wise sum of all
// ranks' buffers, moving data around a ring as NCCL's ring algorithm does
// (N-1 reduce-scatter steps, then N-1 all-gather steps), cut into chunks
// and spread over several channels (one TCP connection per channel and
// neighbour pair) so that transfers pipeline. A Tracer records, after
// Deng et al. ("Mycroft", arXiv 2509.03018), one completion record per
// collective and periodic per-channel progress snapshots while one is in
// flight, as JSON lines.
//
// The package is transport-agnostic (Transport); tcp.go is the transport
// the role uses and mem.go an in-process one for tests and simulation.
// Chunks travel in host byte order (little-endian on every platform tbctl
// runs on) with no per-chunk header: both ends derive every size from the
// schedule.
package collective

// Options tune one AllReduce. Every rank must use the same values.
type Options struct {
	// ChunkBytes is the largest chunk; 0 means DefaultChunkBytes. It is
	// rounded down to a whole number of float32 (at least one).
	ChunkBytes int
	// Channels is the number of channels; 0 means 1. It must equal the
	// transport's channel count.
	Channels int
}

// DefaultChunkBytes is the chunk size when Options.ChunkBytes is 0.
const DefaultChunkBytes = 512 << 10

func (o Options) chunkElems() int {
	b := o.ChunkBytes
	if b <= 0 {
		b = DefaultChunkBytes
	}
	return max(1, b/4)
}

func (o Options) channels() int {
	return max(1, o.Channels)
}
