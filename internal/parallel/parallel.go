// Package parallel runs independent work on every core: parsing runs of
// documents, analyzers, validating objects.
package parallel

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// Each calls f(0) … f(n-1) on every core. Each core takes the next chunk
// of consecutive indexes when it is done with its last, so that one slowed
// down (by the scheduler, or by items that cost more) does not leave the
// others waiting at the end; the calling goroutine works too. f must be
// safe to call concurrently for different indexes.
func Each(n, chunk int, f func(i int)) {
	var next atomic.Int64
	work := func() {
		for {
			lo := int(next.Add(int64(chunk))) - chunk
			if lo >= n {
				return
			}
			for i := lo; i < min(lo+chunk, n); i++ {
				f(i)
			}
		}
	}
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), (n+chunk-1)/chunk) - 1 {
		wg.Go(work)
	}
	work()
	wg.Wait()
}
