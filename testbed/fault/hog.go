package fault

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	osignal "os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tbctl/tbctl/internal/namespace"
)

// Hog holds mb MiB of touched memory until it is signalled; `tbctl fault
// hog` runs it inside a node for node.mem_pressure. It prints "ready" once
// the memory is held.
func Hog(mb int) {
	block := make([]byte, mb<<20)
	for i := 0; i < len(block); i += 4096 {
		block[i] = 1
	}
	fmt.Println("ready")
	ch := make(chan os.Signal, 1)
	osignal.Notify(ch, syscall.SIGTERM, syscall.SIGINT)
	<-ch
	runtime.KeepAlive(block)
}

// startHog starts a memory hog inside a node's network namespace, in a
// session of its own, and waits until it holds its memory.
func startHog(ns string, mb int) (proc, error) {
	self, err := os.Executable()
	if err != nil {
		return proc{}, err
	}
	cmd := exec.Command(self, "fault", "hog", "--mb", strconv.Itoa(mb))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return proc{}, err
	}
	err = namespace.InThread(func() error {
		if err := namespace.Enter(ns, unix.CLONE_NEWNET); err != nil {
			return err
		}
		return cmd.Start()
	})
	if err != nil {
		return proc{}, fmt.Errorf("start memory hog: %w", err)
	}
	go cmd.Wait()
	p := proc{PID: cmd.Process.Pid, Start: startTime(cmd.Process.Pid)}
	line := make(chan string, 1)
	go func() {
		l, _ := bufio.NewReader(out).ReadString('\n')
		line <- strings.TrimSpace(l)
	}()
	select {
	case l := <-line:
		if l == "ready" {
			return p, nil
		}
		signal([]proc{p}, syscall.SIGKILL)
		return proc{}, fmt.Errorf("memory hog did not start (out of memory?)")
	case <-time.After(60 * time.Second):
		signal([]proc{p}, syscall.SIGKILL)
		return proc{}, fmt.Errorf("memory hog took over a minute to take its memory")
	}
}
