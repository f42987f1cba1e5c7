package agent

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"syscall"
)

// Guard runs this binary with args, its stdout and stderr both on out,
// and sends it SIGTERM when in ends: a command the controller started
// over SSH (a host's deploy) stops, and cleans up, when the controller's
// session is gone. It returns the command's exit status.
func Guard(args []string, in io.Reader, out io.Writer) (int, error) {
	self, err := os.Executable()
	if err != nil {
		return -1, err
	}
	cmd := exec.Command(self, args...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return -1, err
	}
	go func() {
		io.Copy(io.Discard, in)
		cmd.Process.Signal(syscall.SIGTERM)
	}()
	err = cmd.Wait()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode(), nil
	}
	if err != nil {
		return -1, err
	}
	return 0, nil
}
