package sshx

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

var errPoolClosed = errors.New("sshx: pool is closed")

// Pool keeps one connection per target name and hands it out to every
// caller. It is safe for concurrent use.
type Pool struct {
	opts Options

	mu      sync.Mutex
	entries map[string]*poolEntry
	closed  bool
}

type poolEntry struct {
	sem chan struct{} // held while checking or dialling
	c   *Client
}

// NewPool returns an empty pool that dials with opts.
func NewPool(opts Options) *Pool {
	return &Pool{opts: opts.withDefaults(), entries: map[string]*poolEntry{}}
}

// Client returns the pool's connection to t, dialling it on first use. A
// connection found dead (or whose target changed) is closed and dialled
// again, once. The client belongs to the pool: do not Close it.
func (p *Pool) Client(ctx context.Context, t Target) (*Client, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, errPoolClosed
	}
	e := p.entries[t.name()]
	if e == nil {
		e = &poolEntry{sem: make(chan struct{}, 1)}
		p.entries[t.name()] = e
	}
	p.mu.Unlock()

	select {
	case e.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-e.sem }()

	if c := e.c; c != nil {
		if c.target == t && c.alive(p.opts.Timeout) {
			return c, nil
		}
		c.Close()
		e.c = nil
	}
	c, err := Dial(ctx, t, p.opts)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		c.Close()
		return nil, errPoolClosed
	}
	e.c = c
	return c, nil
}

// Close closes every connection of the pool; later calls to Client fail.
func (p *Pool) Close() error {
	p.mu.Lock()
	p.closed = true
	var cs []*Client
	for _, e := range p.entries {
		if e.c != nil {
			cs = append(cs, e.c)
		}
	}
	p.mu.Unlock()
	var errs []error
	for _, c := range cs {
		if err := c.Close(); err != nil {
			errs = append(errs, &HostError{Host: c.Name(), Err: err})
		}
	}
	return errors.Join(errs...)
}

// HostError is the failure of one host in ForEach.
type HostError struct {
	Host string
	Err  error
}

func (e *HostError) Error() string { return fmt.Sprintf("%s: %v", e.Host, e.Err) }
func (e *HostError) Unwrap() error { return e.Err }

// ForEach connects to every target through the pool and calls fn with its
// client, at most parallel at a time (all at once when parallel <= 0). Every
// host is tried even when some fail; the result joins one HostError per
// failed host, in the order of targets, or is nil. Hosts not started because
// ctx ended report ctx.Err().
func (p *Pool) ForEach(ctx context.Context, targets []Target, parallel int, fn func(ctx context.Context, c *Client) error) error {
	if parallel <= 0 {
		parallel = max(1, len(targets))
	}
	sem := make(chan struct{}, parallel)
	errs := make([]error, len(targets))
	var wg sync.WaitGroup
	for i, t := range targets {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			errs[i] = &HostError{Host: t.name(), Err: ctx.Err()}
			continue
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			err := ctx.Err()
			if err == nil {
				var c *Client
				if c, err = p.Client(ctx, t); err == nil {
					err = fn(ctx, c)
				}
			}
			if err != nil {
				errs[i] = &HostError{Host: t.name(), Err: err}
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
