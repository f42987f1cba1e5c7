// Package sshx is the SSH transport of the remote provider: it reaches
// bare-metal and cloud hosts over SSH, runs commands there and copies files
// (tbctl's own binary first of all) so that the engine can run on them.
//
// Host keys are always verified, against a key pinned in the inventory or a
// known_hosts file; there is no way to skip the check. Authentication is by
// public key only (an identity file and/or ssh-agent), never by password.
//
// It touches only the connections it opens and the remote files it is asked
// to copy: their parent directories when missing, and a temporary sibling
// REMOTE.tmp-* that is renamed over the file (or removed on failure).
package sshx

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// Errors that callers can tell apart with errors.Is.
var (
	// ErrHostKey: the host's key is unknown, does not match, or is revoked.
	ErrHostKey = errors.New("ssh host key not trusted")
	// ErrAuth: the host refused every key offered, or no key could be offered.
	ErrAuth = errors.New("ssh authentication failed")
	// ErrUnreachable: no SSH handshake could be completed within the retries.
	ErrUnreachable = errors.New("ssh host unreachable")
)

// Target is one host to reach.
type Target struct {
	Name     string // inventory name; defaults to Address
	Address  string // host name or IP address
	Port     int    // defaults to 22
	User     string
	Identity string // private key file; "" to rely on the agent
	// Exactly one of HostKey and KnownHosts must be set.
	HostKey    string // pinned public key, authorized_keys format ("ssh-ed25519 AAAA...")
	KnownHosts string // known_hosts file
}

func (t Target) port() int {
	if t.Port == 0 {
		return 22
	}
	return t.Port
}

func (t Target) name() string {
	if t.Name == "" {
		return t.Address
	}
	return t.Name
}

// hostport is the address dialled and checked against known_hosts.
func (t Target) hostport() string {
	return net.JoinHostPort(t.Address, strconv.Itoa(t.port()))
}

// who names the target in messages: "name (address:port)".
func (t Target) who() string {
	if t.Name == "" || t.Name == t.Address {
		return t.hostport()
	}
	return t.Name + " (" + t.hostport() + ")"
}

func (t Target) validate() error {
	switch {
	case t.Address == "":
		return fmt.Errorf("sshx: target %q has no address", t.Name)
	case t.User == "":
		return fmt.Errorf("sshx: target %s has no user", t.who())
	case t.Port < 0 || t.Port > 65535:
		return fmt.Errorf("sshx: target %s has port %d out of range", t.who(), t.Port)
	case (t.HostKey == "") == (t.KnownHosts == ""):
		return fmt.Errorf("sshx: target %s needs exactly one of host_key and known_hosts to verify the host", t.who())
	}
	return nil
}

// Options tune dialling.
type Options struct {
	Timeout time.Duration // per dial and handshake; default 10s
	Retries int           // dial attempts; default 3, backoff 0.5s, 1s, 2s, ... (capped at 4s)
	Agent   bool          // also offer the keys of the agent at SSH_AUTH_SOCK, when set
}

func (o Options) withDefaults() Options {
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.Retries <= 0 {
		o.Retries = 3
	}
	return o
}

// Client is one SSH connection to a target. It is safe for concurrent use.
type Client struct {
	target Target
	conn   *ssh.Client
	done   chan struct{} // closed when the connection has ended

	mu       sync.Mutex
	lastUsed time.Time
}

// Target returns the target the client is connected to.
func (c *Client) Target() Target { return c.target }

// Name returns the target's name.
func (c *Client) Name() string { return c.target.name() }

// Close closes the connection and every session on it.
func (c *Client) Close() error {
	err := c.conn.Close()
	<-c.done
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// alive reports whether the connection still answers; it probes the peer
// only when the connection has been idle for a while.
func (c *Client) alive(timeout time.Duration) bool {
	select {
	case <-c.done:
		return false
	default:
	}
	c.mu.Lock()
	idle := time.Since(c.lastUsed)
	c.mu.Unlock()
	if idle < 15*time.Second {
		return true
	}
	res := make(chan error, 1)
	go func() {
		_, _, err := c.conn.SendRequest("keepalive@openssh.com", true, nil)
		res <- err
	}()
	select {
	case err := <-res:
		if err == nil {
			c.touch()
		}
		return err == nil
	case <-time.After(timeout):
		return false
	case <-c.done:
		return false
	}
}

func (c *Client) touch() {
	c.mu.Lock()
	c.lastUsed = time.Now()
	c.mu.Unlock()
}

// Dial connects to t, verifies its host key and authenticates. Network
// failures are retried opts.Retries times with backoff; host-key and
// authentication failures are not.
func Dial(ctx context.Context, t Target, opts Options) (*Client, error) {
	if err := t.validate(); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	hk, err := newHostKeyChecker(t)
	if err != nil {
		return nil, err
	}
	auth, err := newAuth(t, opts)
	if err != nil {
		return nil, err
	}
	defer auth.close()

	backoff := 500 * time.Millisecond
	var last error
	for attempt := 1; attempt <= opts.Retries; attempt++ {
		if attempt > 1 {
			select {
			case <-ctx.Done():
				return nil, fmt.Errorf("sshx: dial %s: %w (last error: %v)", t.who(), ctx.Err(), last)
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 4*time.Second)
		}
		c, err := dialOnce(ctx, t, opts, hk, auth)
		if err == nil {
			return c, nil
		}
		if errors.Is(err, ErrHostKey) || errors.Is(err, ErrAuth) {
			return nil, err
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("sshx: dial %s: %w", t.who(), ctx.Err())
		}
		last = err
	}
	attempts := "attempts"
	if opts.Retries == 1 {
		attempts = "attempt"
	}
	return nil, fmt.Errorf("%w: %s after %d %s: %v", ErrUnreachable, t.who(), opts.Retries, attempts, last)
}

// dialOnce makes one TCP connection and SSH handshake, bounded by
// opts.Timeout and ctx.
func dialOnce(ctx context.Context, t Target, opts Options, hk *hostKeyChecker, auth *authMethods) (*Client, error) {
	dctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(dctx, "tcp", t.hostport())
	if err != nil {
		return nil, err
	}
	// Bound the handshake by the same deadline, and abort it on cancel.
	deadline, _ := dctx.Deadline()
	_ = nc.SetDeadline(deadline)
	stop := context.AfterFunc(dctx, func() { _ = nc.SetDeadline(time.Unix(1, 0)) })

	var check hostKeyResult
	cfg := &ssh.ClientConfig{
		User:              t.User,
		Auth:              auth.methods,
		HostKeyCallback:   hk.callback(&check),
		HostKeyAlgorithms: hk.algorithms,
	}
	sc, chans, reqs, err := ssh.NewClientConn(nc, t.hostport(), cfg)
	stopped := stop()
	if err == nil && !stopped {
		err = dctx.Err() // the deadline fired as the handshake finished
		sc.Close()
	}
	if err != nil {
		nc.Close()
		switch {
		case check.err != nil:
			return nil, check.err
		case check.ok && isAuthFailure(err):
			return nil, fmt.Errorf("%w: %s@%s refused %s (methods tried: %s); "+
				"check the user name and that the public key is in that user's ~/.ssh/authorized_keys on the host",
				ErrAuth, t.User, t.hostport(), auth.describe(), auth.tried(err))
		}
		return nil, err
	}
	_ = nc.SetDeadline(time.Time{})
	c := &Client{target: t, conn: ssh.NewClient(sc, chans, reqs), done: make(chan struct{}), lastUsed: time.Now()}
	go func() {
		_ = c.conn.Wait()
		close(c.done)
	}()
	return c, nil
}
