package parallel

import (
	"sync/atomic"
	"testing"
)

// Every index is called exactly once, whatever the chunk and however few
// items there are.
func TestEachCallsEveryIndexOnce(t *testing.T) {
	for _, n := range []int{0, 1, 2, 63, 64, 65, 1000} {
		for _, chunk := range []int{1, 3, 64, 128} {
			calls := make([]atomic.Int32, n)
			Each(n, chunk, func(i int) { calls[i].Add(1) })
			for i := range calls {
				if c := calls[i].Load(); c != 1 {
					t.Fatalf("n=%d chunk=%d: index %d called %d times", n, chunk, i, c)
				}
			}
		}
	}
}
