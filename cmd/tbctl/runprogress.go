package main

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// runProgress shows where an experiment run is: phase, run x of y, elapsed
// and an estimate of the time left. On a terminal it rewrites one line a few
// times a second; elsewhere it prints a line per phase.
type runProgress struct {
	w   io.Writer
	tty bool

	mu         sync.Mutex
	started    time.Time
	i, n       int
	label      string
	phase      string
	phaseStart time.Time
	phaseLen   time.Duration
	finished   []time.Duration // how long each finished run took
	runStart   time.Time
	quit       chan struct{}
}

func newRunProgress(w io.Writer, tty bool) *runProgress {
	p := &runProgress{w: w, tty: tty, started: time.Now(), quit: make(chan struct{})}
	if tty {
		go p.tick()
	}
	return p
}

func (p *runProgress) Phase(i, n int, label, phase string, total time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if i != p.i {
		p.runStart = time.Now()
	}
	p.i, p.n, p.label, p.phase, p.phaseStart, p.phaseLen = i, n, label, phase, time.Now(), total
	if !p.tty {
		fmt.Fprintf(p.w, "run %d/%d %s: %s\n", i, n, label, phase)
	}
}

func (p *runProgress) Done(i, n int, label, status string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.finished = append(p.finished, time.Since(p.runStart))
	line := fmt.Sprintf("run %d/%d %s: %s in %s", i, n, label, status, time.Since(p.runStart).Round(100*time.Millisecond))
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K%s\n", line)
	} else {
		fmt.Fprintln(p.w, line)
	}
}

func (p *runProgress) tick() {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-p.quit:
			return
		case <-t.C:
			p.draw()
		}
	}
}

func (p *runProgress) draw() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.n == 0 {
		return
	}
	phase := p.phase
	if p.phaseLen > 0 {
		phase += fmt.Sprintf(" %s/%s", time.Since(p.phaseStart).Round(time.Second), p.phaseLen)
	}
	fmt.Fprintf(p.w, "\r\033[Krun %d/%d %s: %s  elapsed %s%s", p.i, p.n, p.label, phase, time.Since(p.started).Round(time.Second), p.remaining())
}

// remaining estimates the time left from the runs finished so far.
func (p *runProgress) remaining() string {
	if len(p.finished) == 0 {
		return ""
	}
	var sum time.Duration
	for _, d := range p.finished {
		sum += d
	}
	avg := sum / time.Duration(len(p.finished))
	left := time.Duration(p.n-len(p.finished))*avg - time.Since(p.runStart)
	if left < 0 {
		left = 0
	}
	return fmt.Sprintf("  remaining ~%s", left.Round(time.Second))
}

func (p *runProgress) stop() {
	if p.tty {
		close(p.quit)
		p.mu.Lock()
		fmt.Fprint(p.w, "\r\033[K")
		p.mu.Unlock()
	}
}
