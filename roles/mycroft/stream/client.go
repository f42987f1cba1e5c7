package stream

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"sync"
	"time"
)

// Conn is the analyzer's end of one rank's stream.
type Conn struct {
	Hello Hello
	c     net.Conn
	r     *bufio.Reader
	mu    sync.Mutex // serialises commands
	want  string
}

// Dial connects to a rank's stream at addr, retrying until ctx ends (the
// rank may not listen yet), and reads its hello.
func Dial(ctx context.Context, addr string) (*Conn, error) {
	var d net.Dialer
	for {
		c, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			conn := &Conn{c: c, r: bufio.NewReaderSize(c, 64<<10), want: WantCompletions}
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			line, err := conn.r.ReadBytes('\n')
			c.SetReadDeadline(time.Time{})
			if err == nil {
				err = json.Unmarshal(line, &conn.Hello)
			}
			if err == nil && conn.Hello.Type != "hello" {
				err = fmt.Errorf("first line is not a hello: %.80q", line)
			}
			if err != nil {
				c.Close()
				return nil, fmt.Errorf("stream %s: %w", addr, err)
			}
			return conn, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("stream %s: %w", addr, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Want asks the rank for completions only or for everything.
func (c *Conn) Want(want string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if want == c.want {
		return nil
	}
	line, _ := json.Marshal(Command{Want: want})
	c.c.SetWriteDeadline(time.Now().Add(time.Second))
	if _, err := c.c.Write(append(line, '\n')); err != nil {
		return err
	}
	c.want = want
	return nil
}

// Next returns the next record line (without its newline).
func (c *Conn) Next() ([]byte, error) {
	line, err := c.r.ReadBytes('\n')
	if err != nil {
		return nil, err
	}
	return line[:len(line)-1], nil
}

// Close closes the connection.
func (c *Conn) Close() error { return c.c.Close() }
