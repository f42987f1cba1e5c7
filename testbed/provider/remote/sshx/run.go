package sshx

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// cancelGrace is how long Run waits, after cancelling, for the host to close
// the session before it returns anyway.
const cancelGrace = 2 * time.Second

// Run runs argv on the host, each argument shell-quoted so that the remote
// shell sees exactly argv. stdin, stdout and stderr may be nil; a non-nil
// stdin should reach EOF. A nonzero exit status is returned as exitCode with
// a nil error (128+N when killed by signal N); err is for failures of the
// transport. When ctx ends, the command is sent SIGTERM, the session is
// closed and ctx.Err() is returned; nothing is written to stdout or stderr
// after Run returns.
func (c *Client) Run(ctx context.Context, argv []string, stdin io.Reader, stdout, stderr io.Writer) (exitCode int, err error) {
	if len(argv) == 0 {
		return -1, errors.New("sshx: Run: empty command")
	}
	if err := ctx.Err(); err != nil {
		return -1, err
	}
	s, err := c.conn.NewSession()
	if err != nil {
		return -1, fmt.Errorf("sshx: %s: open session: %w", c.Name(), err)
	}
	defer s.Close()
	c.touch()

	var gates []*gate
	wrap := func(w io.Writer) io.Writer {
		if w == nil {
			return nil
		}
		g := &gate{w: w}
		gates = append(gates, g)
		return g
	}
	s.Stdin, s.Stdout, s.Stderr = stdin, wrap(stdout), wrap(stderr)

	if err := s.Start(ShellQuote(argv...)); err != nil {
		return -1, fmt.Errorf("sshx: %s: start %s: %w", c.Name(), argv[0], err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Wait() }()
	select {
	case err := <-done:
		return exitStatus(c.Name(), argv, err)
	case <-ctx.Done():
		_ = s.Signal(ssh.SIGTERM)
		_ = s.Close()
		select {
		case <-done:
		case <-time.After(cancelGrace):
		}
		for _, g := range gates {
			g.detach()
		}
		return -1, ctx.Err()
	}
}

func exitStatus(name string, argv []string, err error) (int, error) {
	var ee *ssh.ExitError
	var em *ssh.ExitMissingError
	switch {
	case err == nil:
		return 0, nil
	case errors.As(err, &ee):
		return ee.ExitStatus(), nil
	case errors.As(err, &em):
		return -1, fmt.Errorf("sshx: %s: %s ended without an exit status (connection lost?)", name, argv[0])
	}
	return -1, fmt.Errorf("sshx: %s: %s: %w", name, argv[0], err)
}

// Output runs argv and returns its standard output. A nonzero exit status
// is an error that carries the command's standard error.
func (c *Client) Output(ctx context.Context, argv []string) ([]byte, error) {
	var stdout, stderr bytes.Buffer
	code, err := c.Run(ctx, argv, nil, &stdout, &stderr)
	if err != nil {
		return stdout.Bytes(), err
	}
	if code != 0 {
		msg := strings.TrimSpace(stderr.String())
		if len(msg) > 2048 {
			msg = msg[len(msg)-2048:]
		}
		return stdout.Bytes(), fmt.Errorf("sshx: %s: `%s` exited with status %d: %s", c.Name(), ShellQuote(argv...), code, msg)
	}
	return stdout.Bytes(), nil
}

var shellSafe = regexp.MustCompile(`^[A-Za-z0-9_@%+:,./-]+$`)

// ShellQuote joins argv into one POSIX shell command line that the remote
// shell splits back into exactly argv: arguments with anything but safe
// characters are single-quoted.
func ShellQuote(argv ...string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		if shellSafe.MatchString(a) {
			q[i] = a
		} else {
			q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
	}
	return strings.Join(q, " ")
}

// gate passes writes through until detached, then drops them, so that a
// session that outlives a cancelled Run cannot write into the caller's
// buffers.
type gate struct {
	mu  sync.Mutex
	w   io.Writer
	off bool
}

func (g *gate) Write(p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.off {
		return len(p), nil
	}
	return g.w.Write(p)
}

func (g *gate) detach() {
	g.mu.Lock()
	g.off = true
	g.mu.Unlock()
}
