package traffic

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/tbctl/tbctl/roles"
)

// server is the state of a server-mode instance.
type server struct {
	env *roles.Env
	m   *metrics

	mu       sync.Mutex
	conns    map[net.Conn]struct{}
	count    map[string]int64    // connections by kind
	udpFlows int64               // flows seen
	flows    map[uint64]*udpFlow // flows whose report connection is still open, or that have none
	wg       sync.WaitGroup

	bulkBytes, rrBytes, udpBytes, udpDatagrams, udpForeign atomic.Int64
}

// serverRecvBuffer is the size of the reads of bulk connections.
const serverRecvBuffer = 256 << 10

func runServer(ctx context.Context, env *roles.Env, p *Params, m *metrics) error {
	addr := net.JoinHostPort("", strconv.Itoa(p.Port))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("traffic: server: %w", err)
	}
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		ln.Close()
		return fmt.Errorf("traffic: server: %w", err)
	}
	uc := pc.(*net.UDPConn)
	uc.SetReadBuffer(8 << 20) // best effort: absorbs bursts; capped by net.core.rmem_max
	s := &server{env: env, m: m, conns: map[net.Conn]struct{}{}, count: map[string]int64{}, flows: map[uint64]*udpFlow{}}
	env.Events.Emit("listening", map[string]any{"port": p.Port})
	env.Ready()

	s.wg.Add(2)
	go func() { defer s.wg.Done(); s.acceptLoop(ln) }()
	go func() { defer s.wg.Done(); s.udpLoop(uc) }()
	<-ctx.Done()
	ln.Close()
	uc.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()

	s.mu.Lock()
	summary := map[string]any{
		"mode":        "server",
		"port":        p.Port,
		"connections": s.count,
		"bytes": map[string]int64{
			"bulk": s.bulkBytes.Load(), "rr": s.rrBytes.Load(), "udp": s.udpBytes.Load(),
		},
		"udp_flows":            s.udpFlows,
		"udp_datagrams":        s.udpDatagrams.Load(),
		"udp_foreign_datagram": s.udpForeign.Load(),
	}
	s.mu.Unlock()
	if err := env.WriteJSON("summary.json", summary); err != nil {
		return err
	}
	return ctx.Err()
}

func (s *server) acceptLoop(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return // closed
		}
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() {
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
				c.Close()
			}()
			if err := s.handle(c); err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				s.env.Events.Emit("connection-error", map[string]any{"remote": c.RemoteAddr().String(), "error": err.Error()})
			}
		}()
	}
}

// maxHello bounds the hello line.
const maxHello = 4096

func (s *server) handle(c net.Conn) error {
	br := bufio.NewReaderSize(c, maxHello)
	line, err := br.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			return fmt.Errorf("hello line longer than %d bytes", maxHello)
		}
		return err
	}
	var h hello
	if err := json.Unmarshal(line, &h); err != nil {
		return fmt.Errorf("bad hello line: %v", err)
	}
	s.mu.Lock()
	s.count[h.Kind]++
	s.mu.Unlock()
	s.env.Events.Emit("connected", map[string]any{"kind": h.Kind, "remote": c.RemoteAddr().String(), "flow": h.Flow})
	switch h.Kind {
	case "bulk":
		return s.bulk(br)
	case "rr":
		return s.echo(br, c, h.Size)
	case "udp-report":
		return s.report(br, c, h.Flow)
	}
	return fmt.Errorf("unknown connection kind %q (want bulk, rr or udp-report)", h.Kind)
}

// bulk reads and discards until the peer closes.
func (s *server) bulk(r io.Reader) error {
	buf := make([]byte, serverRecvBuffer)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			s.bulkBytes.Add(int64(n))
			s.m.received.Add(float64(n))
		}
		if err != nil {
			return err
		}
	}
}

// echo sends every size-byte request back.
func (s *server) echo(r io.Reader, w io.Writer, size int) error {
	if size < 1 || size > 16<<20 {
		return fmt.Errorf("rr request size %d out of range", size)
	}
	buf := make([]byte, size)
	for {
		if _, err := io.ReadFull(r, buf); err != nil {
			return err
		}
		s.rrBytes.Add(int64(size))
		s.m.received.Add(float64(size))
		if _, err := w.Write(buf); err != nil {
			return err
		}
		s.m.sent.Add(float64(size))
	}
}

// reportRequest is a line on a udp-report connection after the hello.
type reportRequest struct {
	Sent int64 `json:"sent"` // datagrams the client sent, when known
}

// report answers the hello and every later line with flow's statistics.
// The flow is forgotten when the connection closes.
func (s *server) report(br *bufio.Reader, w io.Writer, id uint64) error {
	s.mu.Lock()
	f := s.flowLocked(id)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.flows, id)
		s.mu.Unlock()
	}()
	enc := json.NewEncoder(w)
	var req reportRequest
	for {
		s.mu.Lock()
		rep := f.report(id, req.Sent)
		s.mu.Unlock()
		if err := enc.Encode(rep); err != nil {
			return err
		}
		line, err := br.ReadSlice('\n')
		if err != nil {
			return err
		}
		req = reportRequest{}
		if err := json.Unmarshal(line, &req); err != nil {
			return fmt.Errorf("bad udp-report request: %v", err)
		}
	}
}

// flowLocked returns flow id's statistics, created when new; s.mu is held.
func (s *server) flowLocked(id uint64) *udpFlow {
	f := s.flows[id]
	if f == nil {
		f = newUDPFlow()
		s.flows[id] = f
		s.udpFlows++
	}
	return f
}

func (s *server) udpLoop(uc *net.UDPConn) {
	buf := make([]byte, 64<<10)
	for {
		n, err := uc.Read(buf)
		now := monoNow()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue // e.g. ICMP errors reported on the socket
		}
		h, ok := parseDatagram(buf[:n])
		if !ok {
			s.udpForeign.Add(1)
			continue
		}
		s.udpDatagrams.Add(1)
		s.udpBytes.Add(int64(n))
		s.m.received.Add(float64(n))
		s.mu.Lock()
		s.flowLocked(h.flow).add(h.seq, h.sendNS, now, n)
		s.mu.Unlock()
	}
}
