package sshx

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// hostKeyChecker verifies a target's host key, against a pinned key or a
// known_hosts file.
type hostKeyChecker struct {
	t          Target
	pinned     ssh.PublicKey       // when HostKey is set
	known      ssh.HostKeyCallback // when KnownHosts is set
	algorithms []string            // host key algorithms to ask for; nil for the defaults
}

// hostKeyResult records what the callback decided during one handshake, so
// that the dialler can tell a refused host key from other failures.
type hostKeyResult struct {
	ok  bool
	err error
}

func newHostKeyChecker(t Target) (*hostKeyChecker, error) {
	hk := &hostKeyChecker{t: t}
	if t.HostKey != "" {
		key, _, _, _, err := ssh.ParseAuthorizedKey([]byte(t.HostKey))
		if err != nil {
			return nil, fmt.Errorf("sshx: host_key of %s is not a public key in authorized_keys format (\"ssh-ed25519 AAAA...\"): %v", t.who(), err)
		}
		hk.pinned = key
		hk.algorithms = algorithmsFor(key.Type())
		return hk, nil
	}
	cb, err := knownhosts.New(t.KnownHosts)
	if err != nil {
		return nil, fmt.Errorf("sshx: known_hosts for %s: %w", t.who(), err)
	}
	hk.known = cb
	hk.algorithms = knownAlgorithms(cb, t.hostport())
	return hk, nil
}

// knownAlgorithms returns the host key algorithms of the keys known for
// hostport, so that the server is asked for a key type that can be checked
// (a server offering ecdsa first would otherwise fail against a known_hosts
// holding only its ed25519 key). Nil when the host is unknown.
func knownAlgorithms(cb ssh.HostKeyCallback, hostport string) []string {
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil
	}
	probe, err := ssh.NewPublicKey(pub)
	if err != nil {
		return nil
	}
	var ke *knownhosts.KeyError
	if !errors.As(cb(hostport, &net.TCPAddr{IP: net.IPv4zero}, probe), &ke) {
		return nil
	}
	var algos []string
	for _, k := range ke.Want {
		for _, a := range algorithmsFor(k.Key.Type()) {
			if !slices.Contains(algos, a) {
				algos = append(algos, a)
			}
		}
	}
	return algos
}

// algorithmsFor maps a key type to the host key algorithms that use it.
func algorithmsFor(keyType string) []string {
	switch keyType {
	case ssh.KeyAlgoRSA:
		return []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256}
	case ssh.CertAlgoRSAv01:
		return []string{ssh.CertAlgoRSASHA512v01, ssh.CertAlgoRSASHA256v01}
	}
	return []string{keyType}
}

// callback returns the ssh.HostKeyCallback for one handshake; its verdict is
// also stored in res.
func (hk *hostKeyChecker) callback(res *hostKeyResult) ssh.HostKeyCallback {
	return func(hostname string, remote net.Addr, key ssh.PublicKey) error {
		err := hk.check(hostname, remote, key)
		res.ok, res.err = err == nil, err
		return err
	}
}

func (hk *hostKeyChecker) check(hostname string, remote net.Addr, key ssh.PublicKey) error {
	t := hk.t
	offered := fmt.Sprintf("%s %s", key.Type(), ssh.FingerprintSHA256(key))
	scan := fmt.Sprintf("ssh-keyscan -p %d %s", t.port(), t.Address)
	if hk.pinned != nil {
		if bytes.Equal(key.Marshal(), hk.pinned.Marshal()) {
			return nil
		}
		return fmt.Errorf("%w: host key of %s does not match the pinned host_key: the host offered %s, host_key is %s %s; "+
			"if the host was reinstalled, check its key out of band (`%s | ssh-keygen -lf -` on a trusted path) and update host_key in the inventory",
			ErrHostKey, t.who(), offered, hk.pinned.Type(), ssh.FingerprintSHA256(hk.pinned), scan)
	}

	err := hk.known(hostname, remote, key)
	var ke *knownhosts.KeyError
	var re *knownhosts.RevokedError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &re):
		return fmt.Errorf("%w: host key of %s (%s) is revoked in %s; refusing to connect",
			ErrHostKey, t.who(), offered, re.Revoked.String())
	case errors.As(err, &ke) && len(ke.Want) == 0:
		return fmt.Errorf("%w: host %s is unknown: it offered %s, which is not in %s; "+
			"check that fingerprint out of band, then add the key to KNOWN_HOSTS (`%s >> %s`) or set host_key in the inventory",
			ErrHostKey, t.who(), offered, t.KnownHosts, scan, t.KnownHosts)
	case errors.As(err, &ke):
		var want []string
		for _, k := range ke.Want {
			want = append(want, fmt.Sprintf("%s %s (%s:%d)", k.Key.Type(), ssh.FingerprintSHA256(k.Key), k.Filename, k.Line))
		}
		return fmt.Errorf("%w: host key of %s does not match known_hosts: the host offered %s, known is %s; "+
			"the host may have been reinstalled, or the connection intercepted: check its key out of band (`%s`), "+
			"then replace the line (`ssh-keygen -R %s -f %s`)",
			ErrHostKey, t.who(), offered, strings.Join(want, ", "), scan, knownhosts.Normalize(t.hostport()), t.KnownHosts)
	}
	return fmt.Errorf("%w: host key of %s (%s): %v", ErrHostKey, t.who(), offered, err)
}
