package sshx

import (
	"errors"
	"fmt"
	"net"
	"os"
	"regexp"
	"strings"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// authMethods is what Dial offers: the identity file's key first, then the
// agent's keys, all as one "publickey" method (the ssh package tries each
// method name once, so two publickey methods would not both be tried).
type authMethods struct {
	methods []ssh.AuthMethod
	offers  []string // human descriptions of what is offered
	agentNC net.Conn // connection to the agent, closed after dialling
}

func newAuth(t Target, opts Options) (*authMethods, error) {
	a := &authMethods{}
	var signers []ssh.Signer
	encrypted := false
	if t.Identity != "" {
		pem, err := os.ReadFile(t.Identity)
		if err != nil {
			return nil, fmt.Errorf("%w: identity for %s: %v", ErrAuth, t.who(), err)
		}
		s, err := ssh.ParsePrivateKey(pem)
		var pm *ssh.PassphraseMissingError
		switch {
		case errors.As(err, &pm):
			encrypted = true
		case err != nil:
			return nil, fmt.Errorf("%w: identity %s for %s is not a private key: %v", ErrAuth, t.Identity, t.who(), err)
		default:
			signers = append(signers, s)
			a.offers = append(a.offers, fmt.Sprintf("identity %s (%s %s)", t.Identity, s.PublicKey().Type(), ssh.FingerprintSHA256(s.PublicKey())))
		}
	}

	var agentSigners func() ([]ssh.Signer, error)
	sock := os.Getenv("SSH_AUTH_SOCK")
	if opts.Agent && sock != "" {
		nc, err := net.Dial("unix", sock)
		if err == nil {
			a.agentNC = nc
			agentSigners = agent.NewClient(nc).Signers
			a.offers = append(a.offers, "the keys of ssh-agent at "+sock)
		} else if len(signers) == 0 {
			return nil, fmt.Errorf("%w: %s: cannot reach ssh-agent at SSH_AUTH_SOCK=%s: %v", ErrAuth, t.who(), sock, err)
		}
	}

	if encrypted && agentSigners == nil {
		a.close()
		return nil, fmt.Errorf("%w: identity %s for %s is encrypted and tbctl does not ask for passphrases: "+
			"load it into ssh-agent (`ssh-add %s`) and enable the agent (SSH_AUTH_SOCK set, agent on)",
			ErrAuth, t.Identity, t.who(), t.Identity)
	}
	if len(signers) == 0 && agentSigners == nil {
		return nil, fmt.Errorf("%w: no key to offer to %s@%s: set identity in the inventory, or run ssh-agent with the key loaded and enable the agent",
			ErrAuth, t.User, t.hostport())
	}
	a.methods = []ssh.AuthMethod{ssh.PublicKeysCallback(func() ([]ssh.Signer, error) {
		all := append([]ssh.Signer(nil), signers...)
		if agentSigners != nil {
			more, err := agentSigners()
			if err != nil && len(all) == 0 {
				return nil, err
			}
			all = append(all, more...)
		}
		return all, nil
	})}
	return a, nil
}

func (a *authMethods) close() {
	if a.agentNC != nil {
		a.agentNC.Close()
	}
}

// describe says what was offered, for error messages.
func (a *authMethods) describe() string {
	return strings.Join(a.offers, " and ")
}

var attemptedRE = regexp.MustCompile(`attempted methods \[([^\]]*)\]`)

// tried extracts the methods the ssh package attempted from its error.
func (a *authMethods) tried(err error) string {
	if m := attemptedRE.FindStringSubmatch(err.Error()); m != nil {
		return m[1]
	}
	return "publickey"
}

// isAuthFailure reports whether a handshake error, after the host key was
// accepted, means the host refused authentication.
func isAuthFailure(err error) bool {
	s := err.Error()
	return strings.Contains(s, "unable to authenticate") || strings.Contains(s, "authentication failures")
}
