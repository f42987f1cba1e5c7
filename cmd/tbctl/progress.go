package main

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// progress reports deploy actions: on a terminal as one line per action,
// rewritten as items finish; elsewhere as one line per finished action;
// nothing when quiet.
type progress struct {
	w     io.Writer
	tty   bool
	quiet bool

	mu      sync.Mutex
	action  string
	total   int
	done    int
	started time.Time
	shown   time.Time
}

func (p *progress) Start(action string, total int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.action, p.total, p.done, p.started = action, total, 0, time.Now()
	p.draw(true)
}

func (p *progress) Add(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done += n
	p.draw(false)
}

func (p *progress) End(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.quiet {
		return
	}
	mark := "ok"
	if err != nil {
		mark = "FAILED"
	}
	line := fmt.Sprintf("%-27s %5d/%-5d %6.2fs  %s", p.action, p.done, p.total, time.Since(p.started).Seconds(), mark)
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K%s\n", line)
	} else {
		fmt.Fprintln(p.w, line)
	}
}

// draw rewrites the terminal line, at most every 50 ms unless forced.
func (p *progress) draw(force bool) {
	if p.quiet || !p.tty || (!force && time.Since(p.shown) < 50*time.Millisecond) {
		return
	}
	p.shown = time.Now()
	fmt.Fprintf(p.w, "\r\033[K%-27s %5d/%-5d", p.action, p.done, p.total)
}
