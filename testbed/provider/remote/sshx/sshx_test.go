package sshx

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pkg/sftp"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/crypto/ssh/knownhosts"
)

// ---- keys ----

func newSigner(t *testing.T) (ssh.Signer, ed25519.PrivateKey) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	s, err := ssh.NewSignerFromKey(priv)
	require.NoError(t, err)
	return s, priv
}

// writeIdentity writes priv as an OpenSSH private key file, encrypted when
// passphrase is not empty.
func writeIdentity(t *testing.T, priv ed25519.PrivateKey, passphrase string) string {
	t.Helper()
	var block *pem.Block
	var err error
	if passphrase == "" {
		block, err = ssh.MarshalPrivateKey(priv, "test")
	} else {
		block, err = ssh.MarshalPrivateKeyWithPassphrase(priv, "test", []byte(passphrase))
	}
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "id_ed25519")
	require.NoError(t, os.WriteFile(path, pem.EncodeToMemory(block), 0o600))
	return path
}

func authorizedKey(k ssh.PublicKey) string {
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k)))
}

// ---- in-process SSH server ----

type testServer struct {
	t         *testing.T
	port      int
	hostKeys  []ssh.Signer
	user      string
	clientPub ssh.PublicKey
	noSha256  atomic.Bool // answer sha256sum with "not found", exit 127

	accepts    atomic.Int32
	handshakes atomic.Int32

	ln     net.Listener
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
}

func newServer(t *testing.T, user string, clientPub ssh.PublicKey, hostKeys ...ssh.Signer) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := &testServer{
		t: t, port: ln.Addr().(*net.TCPAddr).Port, hostKeys: hostKeys,
		user: user, clientPub: clientPub, ln: ln, conns: map[net.Conn]struct{}{},
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			s.accepts.Add(1)
			if !s.track(nc) {
				continue
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.handleConn(nc)
			}()
		}
	}()
	t.Cleanup(s.Close)
	return s
}

func (s *testServer) track(nc net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		nc.Close()
		return false
	}
	s.conns[nc] = struct{}{}
	return true
}

// dropConns closes every open connection, as a host reboot would.
func (s *testServer) dropConns() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for nc := range s.conns {
		nc.Close()
	}
}

func (s *testServer) Close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.ln.Close()
	s.dropConns()
	s.wg.Wait()
}

func (s *testServer) handleConn(nc net.Conn) {
	defer func() {
		nc.Close()
		s.mu.Lock()
		delete(s.conns, nc)
		s.mu.Unlock()
	}()
	cfg := &ssh.ServerConfig{
		PublicKeyCallback: func(md ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			if md.User() == s.user && bytes.Equal(key.Marshal(), s.clientPub.Marshal()) {
				return nil, nil
			}
			return nil, errors.New("key not authorized")
		},
	}
	for _, k := range s.hostKeys {
		cfg.AddHostKey(k)
	}
	sc, chans, reqs, err := ssh.NewServerConn(nc, cfg)
	if err != nil {
		return
	}
	defer sc.Close()
	s.handshakes.Add(1)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		ssh.DiscardRequests(reqs)
	}()
	for nch := range chans {
		if nch.ChannelType() != "session" {
			_ = nch.Reject(ssh.UnknownChannelType, "sessions only")
			continue
		}
		ch, creqs, err := nch.Accept()
		if err != nil {
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.session(ch, creqs)
		}()
	}
}

func sendExit(ch ssh.Channel, code int) {
	_, _ = ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{uint32(code)}))
}

// session serves "exec" with sh -c and the "sftp" subsystem.
func (s *testServer) session(ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer ch.Close()
	var cmd *exec.Cmd
	exited := make(chan struct{})
	var inner sync.WaitGroup
	defer inner.Wait()
	for req := range reqs {
		switch req.Type {
		case "exec":
			var p struct{ Command string }
			if ssh.Unmarshal(req.Payload, &p) != nil || cmd != nil {
				_ = req.Reply(false, nil)
				continue
			}
			if s.noSha256.Load() && strings.HasPrefix(p.Command, "sha256sum") {
				_ = req.Reply(true, nil)
				fmt.Fprintln(ch.Stderr(), "sh: 1: sha256sum: not found")
				sendExit(ch, 127)
				_ = ch.Close()
				continue
			}
			cmd = exec.Command("sh", "-c", p.Command)
			cmd.Stdin, cmd.Stdout, cmd.Stderr = ch, ch, ch.Stderr()
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			cmd.WaitDelay = time.Second
			if err := cmd.Start(); err != nil {
				_ = req.Reply(false, nil)
				continue
			}
			_ = req.Reply(true, nil)
			inner.Add(1)
			go func() {
				defer inner.Done()
				_ = cmd.Wait()
				ws := cmd.ProcessState.Sys().(syscall.WaitStatus)
				code := ws.ExitStatus()
				if ws.Signaled() {
					code = 128 + int(ws.Signal())
				}
				_ = ch.CloseWrite()
				sendExit(ch, code)
				_ = ch.Close()
				close(exited)
			}()
		case "signal":
			if cmd != nil && cmd.Process != nil {
				_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
			}
			if req.WantReply {
				_ = req.Reply(true, nil)
			}
		case "subsystem":
			var p struct{ Name string }
			if ssh.Unmarshal(req.Payload, &p) != nil || p.Name != "sftp" {
				_ = req.Reply(false, nil)
				continue
			}
			srv, err := sftp.NewServer(ch)
			if err != nil {
				_ = req.Reply(false, nil)
				continue
			}
			_ = req.Reply(true, nil)
			inner.Add(1)
			go func() {
				defer inner.Done()
				_ = srv.Serve()
				_ = srv.Close()
			}()
		default:
			if req.WantReply {
				_ = req.Reply(false, nil)
			}
		}
	}
	// The client closed the channel: stop what still runs.
	if cmd != nil && cmd.Process != nil {
		select {
		case <-exited:
		default:
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		}
	}
}

// ---- helpers ----

// fixture is a server with one ed25519 host key and one authorized user key.
type fixture struct {
	srv      *testServer
	host     ssh.Signer
	identity string // unencrypted identity file of the authorized key
	priv     ed25519.PrivateKey
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	host, _ := newSigner(t)
	client, priv := newSigner(t)
	return &fixture{
		srv:      newServer(t, "tester", client.PublicKey(), host),
		host:     host,
		identity: writeIdentity(t, priv, ""),
		priv:     priv,
	}
}

func (f *fixture) target(name string) Target {
	return Target{
		Name: name, Address: "127.0.0.1", Port: f.srv.port, User: "tester",
		Identity: f.identity, HostKey: authorizedKey(f.host.PublicKey()),
	}
}

func dial(t *testing.T, tg Target, opts Options) *Client {
	t.Helper()
	c, err := Dial(context.Background(), tg, opts)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

// checkLeaks fails the test if goroutines started during it are still
// running after its cleanups. Register it first so that it runs last.
func checkLeaks(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(3 * time.Second)
		for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if n := runtime.NumGoroutine(); n > before {
			buf := make([]byte, 1<<20)
			t.Errorf("goroutine leak: %d before, %d after\n%s", before, n, buf[:runtime.Stack(buf, true)])
		}
	})
}

// ---- host keys ----

func TestPinnedHostKeyAccepted(t *testing.T) {
	checkLeaks(t)
	f := newFixture(t)
	c := dial(t, f.target("h1"), Options{})
	out, err := c.Output(context.Background(), []string{"echo", "hello"})
	require.NoError(t, err)
	require.Equal(t, "hello\n", string(out))
	require.Equal(t, "h1", c.Name())
}

func TestPinnedHostKeyMismatch(t *testing.T) {
	checkLeaks(t)
	f := newFixture(t)
	other, _ := newSigner(t)
	tg := f.target("h1")
	tg.HostKey = authorizedKey(other.PublicKey())
	_, err := Dial(context.Background(), tg, Options{Retries: 3})
	require.ErrorIs(t, err, ErrHostKey)
	require.NotErrorIs(t, err, ErrUnreachable)
	msg := err.Error()
	require.Contains(t, msg, ssh.FingerprintSHA256(f.host.PublicKey()), "names the offered key")
	require.Contains(t, msg, ssh.FingerprintSHA256(other.PublicKey()), "names the pinned key")
	require.Contains(t, msg, "ssh-ed25519")
	require.Contains(t, msg, "h1 (127.0.0.1:")
	require.Contains(t, msg, "host_key")
	require.EqualValues(t, 1, f.srv.accepts.Load(), "host key errors are not retried")
	require.EqualValues(t, 0, f.srv.handshakes.Load())
}

func TestKnownHosts(t *testing.T) {
	checkLeaks(t)
	edHost, _ := newSigner(t)
	ecPriv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	ecHost, err := ssh.NewSignerFromKey(ecPriv)
	require.NoError(t, err)
	client, priv := newSigner(t)
	// The server offers ecdsa and ed25519; the client prefers ecdsa, and
	// known_hosts holds only ed25519: Dial must ask for ed25519.
	srv := newServer(t, "tester", client.PublicKey(), ecHost, edHost)
	dir := t.TempDir()
	hostport := net.JoinHostPort("127.0.0.1", fmt.Sprint(srv.port))
	write := func(name string, lines ...string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o644))
		return p
	}
	stranger, _ := newSigner(t)
	tg := Target{Name: "k1", Address: "127.0.0.1", Port: srv.port, User: "tester", Identity: writeIdentity(t, priv, "")}

	t.Run("known", func(t *testing.T) {
		tg := tg
		tg.KnownHosts = write("known", knownhosts.Line([]string{"other.example:22"}, stranger.PublicKey()),
			knownhosts.Line([]string{hostport}, edHost.PublicKey()))
		c, err := Dial(context.Background(), tg, Options{})
		require.NoError(t, err)
		require.NoError(t, c.Close())
	})
	t.Run("unknown", func(t *testing.T) {
		tg := tg
		tg.KnownHosts = write("unknown", knownhosts.Line([]string{"other.example:22"}, stranger.PublicKey()))
		_, err := Dial(context.Background(), tg, Options{})
		require.ErrorIs(t, err, ErrHostKey)
		msg := err.Error()
		require.Contains(t, msg, "unknown")
		require.Contains(t, msg, fmt.Sprintf("ssh-keyscan -p %d 127.0.0.1", srv.port))
		require.Contains(t, msg, "KNOWN_HOSTS")
		require.Contains(t, msg, "host_key")
		// With no known key the client's first preference, ecdsa, is offered.
		require.Contains(t, msg, ssh.FingerprintSHA256(ecHost.PublicKey()))
	})
	t.Run("mismatch", func(t *testing.T) {
		tg := tg
		tg.KnownHosts = write("mismatch", knownhosts.Line([]string{hostport}, stranger.PublicKey()))
		_, err := Dial(context.Background(), tg, Options{})
		require.ErrorIs(t, err, ErrHostKey)
		require.Contains(t, err.Error(), "does not match")
		require.Contains(t, err.Error(), ssh.FingerprintSHA256(stranger.PublicKey()))
	})
	t.Run("missing file", func(t *testing.T) {
		tg := tg
		tg.KnownHosts = filepath.Join(dir, "absent")
		_, err := Dial(context.Background(), tg, Options{})
		require.Error(t, err)
		require.ErrorIs(t, err, os.ErrNotExist)
	})
}

func TestTargetValidation(t *testing.T) {
	f := newFixture(t)
	tg := f.target("v")
	tg.KnownHosts = "/dev/null"
	_, err := Dial(context.Background(), tg, Options{})
	require.ErrorContains(t, err, "exactly one of host_key and known_hosts")
	tg.HostKey, tg.KnownHosts = "", ""
	_, err = Dial(context.Background(), tg, Options{})
	require.ErrorContains(t, err, "exactly one of host_key and known_hosts")
	require.EqualValues(t, 0, f.srv.accepts.Load())
}

// ---- authentication ----

func TestAuthFailures(t *testing.T) {
	checkLeaks(t)
	f := newFixture(t)

	t.Run("wrong user", func(t *testing.T) {
		before := f.srv.accepts.Load()
		tg := f.target("a1")
		tg.User = "nobody"
		_, err := Dial(context.Background(), tg, Options{Retries: 3})
		require.ErrorIs(t, err, ErrAuth)
		require.Contains(t, err.Error(), fmt.Sprintf("nobody@127.0.0.1:%d", f.srv.port))
		require.Contains(t, err.Error(), "publickey")
		require.Contains(t, err.Error(), tg.Identity)
		require.Equal(t, before+1, f.srv.accepts.Load(), "auth errors are not retried")
	})
	t.Run("wrong key", func(t *testing.T) {
		_, other := newSigner(t)
		tg := f.target("a2")
		tg.Identity = writeIdentity(t, other, "")
		_, err := Dial(context.Background(), tg, Options{})
		require.ErrorIs(t, err, ErrAuth)
		require.Contains(t, err.Error(), "tester@127.0.0.1")
	})
	t.Run("encrypted key without agent", func(t *testing.T) {
		t.Setenv("SSH_AUTH_SOCK", "")
		tg := f.target("a3")
		tg.Identity = writeIdentity(t, f.priv, "secret")
		_, err := Dial(context.Background(), tg, Options{Agent: true})
		require.ErrorIs(t, err, ErrAuth)
		require.Contains(t, err.Error(), "encrypted")
		require.Contains(t, err.Error(), "ssh-add "+tg.Identity)
	})
	t.Run("no key at all", func(t *testing.T) {
		tg := f.target("a4")
		tg.Identity = ""
		_, err := Dial(context.Background(), tg, Options{Agent: false})
		require.ErrorIs(t, err, ErrAuth)
	})
}

func TestAgent(t *testing.T) {
	checkLeaks(t)
	f := newFixture(t)
	dir, err := os.MkdirTemp("", "sshx")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "agent.sock")
	ln, err := net.Listen("unix", sock)
	require.NoError(t, err)
	keyring := agent.NewKeyring()
	require.NoError(t, keyring.Add(agent.AddedKey{PrivateKey: f.priv}))
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer nc.Close()
				_ = agent.ServeAgent(keyring, nc)
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	t.Setenv("SSH_AUTH_SOCK", sock)

	// Only the agent holds the key; the encrypted identity is skipped.
	tg := f.target("ag")
	tg.Identity = writeIdentity(t, f.priv, "secret")
	c := dial(t, tg, Options{Agent: true})
	out, err := c.Output(context.Background(), []string{"echo", "via agent"})
	require.NoError(t, err)
	require.Equal(t, "via agent\n", string(out))

	tg.Identity = ""
	_, err = Dial(context.Background(), tg, Options{Agent: false})
	require.ErrorIs(t, err, ErrAuth, "the agent is used only when enabled")
}

// ---- reachability ----

func TestUnreachable(t *testing.T) {
	checkLeaks(t)
	t.Run("refused", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		f := newFixture(t)
		tg := f.target("u1")
		tg.Port = port
		start := time.Now()
		_, err = Dial(context.Background(), tg, Options{Retries: 2, Timeout: time.Second})
		elapsed := time.Since(start)
		require.ErrorIs(t, err, ErrUnreachable)
		require.Contains(t, err.Error(), "after 2 attempts")
		require.Contains(t, err.Error(), "u1 (127.0.0.1:")
		require.GreaterOrEqual(t, elapsed, 450*time.Millisecond, "one backoff of 0.5s between the attempts")
		require.Less(t, elapsed, 3*time.Second)
	})
	t.Run("silent", func(t *testing.T) {
		// Accepts TCP but never speaks SSH: each attempt ends at Timeout.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		var accepts atomic.Int32
		var conns []net.Conn
		var mu sync.Mutex
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				nc, err := ln.Accept()
				if err != nil {
					return
				}
				accepts.Add(1)
				mu.Lock()
				conns = append(conns, nc)
				mu.Unlock()
			}
		}()
		t.Cleanup(func() {
			ln.Close()
			<-done
			for _, c := range conns {
				c.Close()
			}
		})
		f := newFixture(t)
		tg := f.target("u2")
		tg.Port = ln.Addr().(*net.TCPAddr).Port
		start := time.Now()
		_, err = Dial(context.Background(), tg, Options{Retries: 2, Timeout: 200 * time.Millisecond})
		require.ErrorIs(t, err, ErrUnreachable)
		require.Less(t, time.Since(start), 3*time.Second)
		require.EqualValues(t, 2, accepts.Load())
	})
	t.Run("cancelled", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		f := newFixture(t)
		tg := f.target("u3")
		tg.Port = port
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err = Dial(ctx, tg, Options{Retries: 10})
		require.ErrorIs(t, err, context.DeadlineExceeded)
		require.Less(t, time.Since(start), 2*time.Second)
	})
}

// ---- commands ----

func TestRun(t *testing.T) {
	checkLeaks(t)
	f := newFixture(t)
	c := dial(t, f.target("r1"), Options{})
	ctx := context.Background()

	var stdout, stderr bytes.Buffer
	code, err := c.Run(ctx, []string{"sh", "-c", "echo out; echo err >&2; exit 3"}, nil, &stdout, &stderr)
	require.NoError(t, err)
	require.Equal(t, 3, code)
	require.Equal(t, "out\n", stdout.String())
	require.Equal(t, "err\n", stderr.String())

	stdout.Reset()
	code, err = c.Run(ctx, []string{"cat"}, strings.NewReader("from stdin"), &stdout, nil)
	require.NoError(t, err)
	require.Equal(t, 0, code)
	require.Equal(t, "from stdin", stdout.String())

	// Arguments arrive exactly, whatever they hold.
	args := []string{"a b", "it's", "$HOME", "`id`", "", "x;y", "*", "~", "a=b", "\"q\"", "new\nline"}
	out, err := c.Output(ctx, append([]string{"printf", "[%s]"}, args...))
	require.NoError(t, err)
	var want strings.Builder
	for _, a := range args {
		want.WriteString("[" + a + "]")
	}
	require.Equal(t, want.String(), string(out))

	_, err = c.Output(ctx, []string{"sh", "-c", "echo broken >&2; exit 5"})
	require.ErrorContains(t, err, "exited with status 5: broken")
}

func TestShellQuote(t *testing.T) {
	require.Equal(t, "tbctl role run '--name=x' /opt/tbctl", ShellQuote("tbctl", "role", "run", "--name=x", "/opt/tbctl"))
	require.Equal(t, `'' 'it'\''s' a/b '$X'`, ShellQuote("", "it's", "a/b", "$X"))
}

func TestRunCancel(t *testing.T) {
	checkLeaks(t)
	f := newFixture(t)
	c := dial(t, f.target("r2"), Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	marker := filepath.Join(t.TempDir(), "still-running")
	start := time.Now()
	code, err := c.Run(ctx, []string{"sh", "-c", "sleep 2; touch " + marker}, nil, nil, nil)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Equal(t, -1, code)
	require.Less(t, time.Since(start), 1500*time.Millisecond, "returns promptly")

	// The command was stopped, and the connection is still usable.
	out, err := c.Output(context.Background(), []string{"echo", "ok"})
	require.NoError(t, err)
	require.Equal(t, "ok\n", string(out))
	time.Sleep(2200 * time.Millisecond)
	require.NoFileExists(t, marker)
}

// ---- files ----

func TestCopyFile(t *testing.T) {
	checkLeaks(t)
	f := newFixture(t)
	c := dial(t, f.target("c1"), Options{})
	ctx := context.Background()
	local := filepath.Join(t.TempDir(), "tbctl")
	require.NoError(t, os.WriteFile(local, []byte("binary v1"), 0o600))
	dir := filepath.Join(t.TempDir(), "opt", "tbctl", "bin") // parents do not exist
	remote := filepath.Join(dir, "tbctl")

	copied, err := c.CopyFile(ctx, local, remote, 0o755)
	require.NoError(t, err)
	require.True(t, copied)
	requireFile(t, remote, "binary v1", 0o755)

	copied, err = c.CopyFile(ctx, local, remote, 0o755)
	require.NoError(t, err)
	require.False(t, copied, "same content is not copied again")

	copied, err = c.CopyFile(ctx, local, remote, 0o700)
	require.NoError(t, err)
	require.False(t, copied)
	requireFile(t, remote, "binary v1", 0o700)

	require.NoError(t, os.WriteFile(local, []byte("binary v2, longer"), 0o600))
	copied, err = c.CopyFile(ctx, local, remote, 0o755)
	require.NoError(t, err)
	require.True(t, copied, "changed content is copied")
	requireFile(t, remote, "binary v2, longer", 0o755)

	// Without sha256sum on the host the hash is read over SFTP.
	f.srv.noSha256.Store(true)
	copied, err = c.CopyFile(ctx, local, remote, 0o755)
	require.NoError(t, err)
	require.False(t, copied)
	require.NoError(t, os.WriteFile(local, []byte("binary v3"), 0o600))
	copied, err = c.CopyFile(ctx, local, remote, 0) // 0: the local mode
	require.NoError(t, err)
	require.True(t, copied)
	requireFile(t, remote, "binary v3", 0o600)

	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1, "no temporary files left behind")

	_, err = c.CopyFile(ctx, filepath.Join(t.TempDir(), "absent"), remote, 0o755)
	require.ErrorIs(t, err, os.ErrNotExist)
}

func requireFile(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, content, string(b))
	st, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, mode, st.Mode().Perm())
}

// ---- pool ----

func TestPoolReuse(t *testing.T) {
	checkLeaks(t)
	f := newFixture(t)
	p := NewPool(Options{})
	t.Cleanup(func() { p.Close() })
	ctx := context.Background()
	tg := f.target("p1")

	var wg sync.WaitGroup
	clients := make([]*Client, 8)
	errs := make([]error, 8)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := p.Client(ctx, tg)
			if err == nil {
				_, err = c.Output(ctx, []string{"true"})
			}
			errs[i] = err
			clients[i] = c
		}()
	}
	wg.Wait()
	require.NoError(t, errors.Join(errs...))
	for _, c := range clients {
		require.Same(t, clients[0], c)
	}
	require.EqualValues(t, 1, f.srv.handshakes.Load(), "one connection per target")

	// The host drops the connection: the next use dials again, once.
	f.srv.dropConns()
	select {
	case <-clients[0].done:
	case <-time.After(5 * time.Second):
		t.Fatal("connection not seen as closed")
	}
	c2, err := p.Client(ctx, tg)
	require.NoError(t, err)
	require.NotSame(t, clients[0], c2)
	out, err := c2.Output(ctx, []string{"echo", "again"})
	require.NoError(t, err)
	require.Equal(t, "again\n", string(out))
	require.EqualValues(t, 2, f.srv.handshakes.Load())

	require.NoError(t, p.Close())
	_, err = p.Client(ctx, tg)
	require.Error(t, err)
}

func TestForEach(t *testing.T) {
	checkLeaks(t)
	f := newFixture(t)
	p := NewPool(Options{})
	t.Cleanup(func() { p.Close() })
	errBoom := errors.New("boom")

	var targets []Target
	for i := range 6 {
		targets = append(targets, f.target(fmt.Sprintf("h%d", i)))
	}
	bad := f.target("bad")
	other, _ := newSigner(t)
	bad.HostKey = authorizedKey(other.PublicKey())
	targets = append(targets, bad)

	var inflight, peak, calls atomic.Int32
	var seen sync.Map
	err := p.ForEach(context.Background(), targets, 2, func(ctx context.Context, c *Client) error {
		calls.Add(1)
		n := inflight.Add(1)
		defer inflight.Add(-1)
		for {
			m := peak.Load()
			if n <= m || peak.CompareAndSwap(m, n) {
				break
			}
		}
		out, err := c.Output(ctx, []string{"echo", c.Name()})
		if err != nil {
			return err
		}
		seen.Store(strings.TrimSpace(string(out)), true)
		time.Sleep(200 * time.Millisecond)
		if c.Name() == "h3" {
			return errBoom
		}
		return nil
	})
	require.Error(t, err)
	require.LessOrEqual(t, peak.Load(), int32(2), "at most parallel hosts at once")
	require.Equal(t, int32(2), peak.Load(), "hosts do run in parallel")
	require.EqualValues(t, 6, calls.Load())
	for i := range 6 {
		_, ok := seen.Load(fmt.Sprintf("h%d", i))
		require.True(t, ok, "h%d ran", i)
	}
	require.ErrorIs(t, err, errBoom)
	require.ErrorIs(t, err, ErrHostKey)
	require.Contains(t, err.Error(), "h3: boom")
	require.Contains(t, err.Error(), "bad: ")
	require.NotContains(t, err.Error(), "h2:")
	require.EqualValues(t, 6, f.srv.handshakes.Load(), "one connection per host name")

	require.NoError(t, p.ForEach(context.Background(), targets[:6], 0, func(ctx context.Context, c *Client) error { return nil }))
	require.EqualValues(t, 6, f.srv.handshakes.Load(), "connections are reused")
}
