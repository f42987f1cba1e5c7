package sshx

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// Stream is a long-lived command on the host that the caller talks to
// over its stdin and stdout.
type Stream struct {
	Session *ssh.Session
	Stdin   io.WriteCloser
	Stdout  io.Reader
}

// Close ends the session (and with it the command's stdin).
func (s *Stream) Close() error { return s.Session.Close() }

// StartStream starts argv on the host, each argument shell-quoted, with
// pipes to its stdin and from its stdout; its stderr is discarded. The
// caller closes the stream.
func (c *Client) StartStream(argv ...string) (*Stream, error) {
	s, err := c.conn.NewSession()
	if err != nil {
		return nil, fmt.Errorf("sshx: %s: open session: %w", c.Name(), err)
	}
	c.touch()
	st := &Stream{Session: s}
	if st.Stdin, err = s.StdinPipe(); err == nil {
		st.Stdout, err = s.StdoutPipe()
	}
	if err == nil {
		err = s.Start(ShellQuote(argv...))
	}
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("sshx: %s: start %s: %w", c.Name(), strings.Join(argv[:min(3, len(argv))], " "), err)
	}
	return st, nil
}

// RemoteIP is the host's address as this connection reached it.
func (c *Client) RemoteIP() netip.Addr {
	if a, ok := c.conn.RemoteAddr().(*net.TCPAddr); ok {
		ip, _ := netip.AddrFromSlice(a.IP)
		return ip.Unmap()
	}
	return netip.Addr{}
}

// FetchDir copies the remote directory's regular files, recursively, into
// the local directory (created when missing), overwriting files of the
// same name. It returns how many bytes it copied.
func (c *Client) FetchDir(ctx context.Context, remote, local string) (int64, error) {
	sc, err := sftp.NewClient(c.conn)
	if err != nil {
		return 0, fmt.Errorf("sshx: %s: start sftp: %w", c.Name(), err)
	}
	defer sc.Close()
	c.touch()
	var total int64
	w := sc.Walk(remote)
	for w.Step() {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		if err := w.Err(); err != nil {
			return total, fmt.Errorf("sshx: %s: walk %s: %w", c.Name(), w.Path(), err)
		}
		rel, err := filepath.Rel(remote, w.Path())
		if err != nil {
			return total, err
		}
		dst := filepath.Join(local, filepath.FromSlash(rel))
		switch st := w.Stat(); {
		case st.IsDir():
			if err := os.MkdirAll(dst, 0o755); err != nil {
				return total, err
			}
		case st.Mode().IsRegular():
			n, err := fetchFile(sc, w.Path(), dst)
			total += n
			if err != nil {
				return total, fmt.Errorf("sshx: %s: fetch %s: %w", c.Name(), path.Clean(w.Path()), err)
			}
		}
	}
	return total, nil
}

func fetchFile(sc *sftp.Client, remote, local string) (int64, error) {
	src, err := sc.Open(remote)
	if err != nil {
		return 0, err
	}
	defer src.Close()
	dst, err := os.Create(local)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(dst, src)
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	return n, err
}

// WriteFile writes data to the remote path over SFTP, creating its parent
// directories.
func (c *Client) WriteFile(remote string, data []byte, mode os.FileMode) error {
	sc, err := sftp.NewClient(c.conn)
	if err != nil {
		return fmt.Errorf("sshx: %s: start sftp: %w", c.Name(), err)
	}
	defer sc.Close()
	c.touch()
	if err := sc.MkdirAll(path.Dir(remote)); err != nil {
		return fmt.Errorf("sshx: %s: mkdir %s: %w", c.Name(), path.Dir(remote), err)
	}
	f, err := sc.OpenFile(remote, os.O_WRONLY|os.O_CREATE|os.O_TRUNC)
	if err != nil {
		return fmt.Errorf("sshx: %s: create %s: %w", c.Name(), remote, err)
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = sc.Chmod(remote, mode)
	}
	if err != nil {
		return fmt.Errorf("sshx: %s: write %s: %w", c.Name(), remote, err)
	}
	return nil
}
