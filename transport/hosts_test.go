package transport_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/rtchain/rtchain/transport"
)

func holds(h transport.HostTable, hosts ...string) []string {
	var in []string
	for _, host := range hosts {
		if h.Has(host) {
			in = append(in, host)
		}
	}
	return in
}

// Past its bound, a new host takes the place of the least recently used.
func TestHostTableDropsTheLeastRecentlyUsed(t *testing.T) {
	h := transport.NewHostTable(3, nil)
	for _, host := range []string{"a", "b", "c"} {
		*h.Get(host) = 1
	}
	h.Get("a") // used again: b is now the least recent
	h.Get("d")
	assert.Equal(t, []string{"a", "c", "d"}, holds(h, "a", "b", "c", "d"))
	h.Get("e") // c was used before a and d
	assert.Equal(t, []string{"a", "d", "e"}, holds(h, "a", "b", "c", "d", "e"))
	assert.Equal(t, 3, h.Len())
	assert.Equal(t, 0, *h.Get("b"), "a host seen again starts afresh")
}

// Among the hosts not used lately, an idle one goes first: a host whose
// state matters (an open circuit) is kept while an idle one can go.
func TestHostTablePrefersIdleVictims(t *testing.T) {
	h := transport.NewHostTable(3, func(v *int) bool { return *v == 0 })
	*h.Get("open") = 1
	h.Get("b")
	h.Get("c")
	h.Get("d")
	assert.Equal(t, []string{"open", "c", "d"}, holds(h, "open", "b", "c", "d"))
	*h.Get("c"), *h.Get("d") = 1, 1
	h.Get("e") // none idle: the least recently used goes all the same
	assert.Equal(t, 3, h.Len())
	assert.True(t, h.Has("e"))
}

func TestHostTableIgnoresCase(t *testing.T) {
	h := transport.NewHostTable(8, nil)
	assert.Same(t, h.Get("API.example.com:443"), h.Get("api.example.com:443"))
	assert.Equal(t, 1, h.Len())
}

// Many goroutines over many more hosts than the bound: the bound holds,
// and a host's state is one value for every goroutine while it is held.
func TestHostTableBoundUnderConcurrency(t *testing.T) {
	h := transport.NewHostTable(64, nil)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 2000 {
				host := fmt.Sprintf("h%d.test", (i*7+g)%500)
				assert.NotNil(t, h.Get(host))
			}
		})
	}
	wg.Wait()
	assert.Equal(t, 64, h.Len())
	first := h.Get("same.test")
	assert.Same(t, first, h.Get("same.test"))
}

// Goroutines adding hosts while the index grows (16 buckets to 1,024 and
// more) agree on each host's state: a lookup that a change hid finds the
// entry under the lock rather than adding a second one.
func TestHostTableGrowsUnderConcurrency(t *testing.T) {
	const hosts = 3001 // a prime: each goroutine's stride visits every host
	h := transport.NewHostTable(hosts, nil)
	got := make([][]*int, 8)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for g := range got {
		got[g] = make([]*int, hosts)
		wg.Go(func() {
			<-start
			for i := range hosts {
				k := (i*(2*g+1) + g*97) % hosts // every host, in an order of its own
				got[g][k] = h.Get(fmt.Sprintf("h%d.test", k))
			}
		})
	}
	close(start)
	wg.Wait()
	assert.Equal(t, hosts, h.Len())
	for k := range hosts {
		for g := 1; g < len(got); g++ {
			if got[g][k] != got[0][k] {
				t.Fatalf("host %d: goroutines 0 and %d hold different states", k, g)
			}
		}
		assert.True(t, h.Has(fmt.Sprintf("h%d.test", k)))
	}
}
