package collective

import (
	"errors"
	"sync"
)

// ErrAborted is what a transport's calls return after Abort.
var ErrAborted = errors.New("transport aborted")

// MemRing returns in-process transports for a ring of n ranks with the
// given channel count: element r is rank r's. Sends are copied into
// buffered Go channels, so they block only when depth chunks are queued.
// They implement Acker, Aborter and Channeler; Abort of one aborts all.
func MemRing(n, channels, depth int) []Transport {
	type link struct{ data, ack []chan []byte } // per channel, r -> r+1
	links := make([]link, n)                    // links[r] carries r -> r+1
	for r := range links {
		for range channels {
			links[r].data = append(links[r].data, make(chan []byte, depth))
			links[r].ack = append(links[r].ack, make(chan []byte, depth))
		}
	}
	ab := &memAbort{c: make(chan struct{})}
	out := make([]Transport, n)
	for r := range out {
		out[r] = &memTransport{
			channels: channels, abort: ab,
			outData: links[r].data, outAck: links[r].ack,
			inData: links[mod(r-1, n)].data, inAck: links[mod(r-1, n)].ack,
		}
	}
	return out
}

type memAbort struct {
	once sync.Once
	c    chan struct{}
}

type memTransport struct {
	channels      int
	abort         *memAbort
	outData       []chan []byte // to the right neighbour
	outAck        []chan []byte // acks from the right neighbour (it writes)
	inData, inAck []chan []byte // from the left / acks we write to the left
}

func (m *memTransport) Channels() int { return m.channels }

func (m *memTransport) Abort() { m.abort.once.Do(func() { close(m.abort.c) }) }

func (m *memTransport) put(c chan []byte, b []byte) error {
	select {
	case c <- append([]byte(nil), b...):
		return nil
	case <-m.abort.c:
		return ErrAborted
	}
}

func (m *memTransport) get(c chan []byte) ([]byte, error) {
	select {
	case b := <-c:
		return b, nil
	case <-m.abort.c:
		return nil, ErrAborted
	}
}

func (m *memTransport) Send(ch int, b []byte) error { return m.put(m.outData[ch], b) }

func (m *memTransport) Recv(ch int, b []byte) error {
	got, err := m.get(m.inData[ch])
	if err != nil {
		return err
	}
	if len(got) != len(b) {
		return errors.New("chunk size mismatch")
	}
	copy(b, got)
	return nil
}

func (m *memTransport) SendAck(ch int, seq uint32) error {
	return m.put(m.inAck[ch], []byte{byte(seq >> 24), byte(seq >> 16), byte(seq >> 8), byte(seq)})
}

func (m *memTransport) RecvAck(ch int) (uint32, error) {
	b, err := m.get(m.outAck[ch])
	if err != nil {
		return 0, err
	}
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]), nil
}
