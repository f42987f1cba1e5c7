package netns

import (
	"context"
	"runtime"
	"sync"
)

// workers bounds how many nodes or links are worked on at once.
var workers = max(4, 2*runtime.NumCPU())

// forEach runs fn for 0..n-1 on a bounded pool, calls done after each
// success, and returns the first error (the rest still finish).
func forEach(ctx context.Context, n int, fn func(i int) error, done func()) error {
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
		next     = make(chan int)
	)
	for w := 0; w < min(workers, n); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				err := fn(i)
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
				if err == nil && done != nil {
					done()
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		mu.Lock()
		stop := firstErr != nil
		mu.Unlock()
		if stop || ctx.Err() != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	return firstErr
}
