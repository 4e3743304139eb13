package httptestutil

import (
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// LoadResult is what Load measured.
type LoadResult struct {
	// OK is how many calls ended in 200; Failed how many did not.
	OK, Failed int
	// Took is the wall time of the whole load.
	Took time.Duration
	// FirstFailure describes the first call that failed, or is "".
	FirstFailure string
}

// Load makes calls GETs of url through client, workers at a time, each
// worker taking the next call as soon as its last one ended (bodies read
// and closed), and reports how they went: the workload of a batch job or a
// fan-out against one API.
func Load(client *http.Client, url string, workers, calls int) LoadResult {
	return LoadRequests(client, workers, calls, func(int) (*http.Request, error) {
		return http.NewRequest(http.MethodGet, url, nil)
	})
}

// LoadRequests is Load with a request of its own for each call: call i
// sends what newRequest(i) returns (0 ≤ i < calls), and succeeds if it ends
// in 200.
func LoadRequests(client *http.Client, workers, calls int, newRequest func(i int) (*http.Request, error)) LoadResult {
	var (
		mu  sync.Mutex
		res LoadResult
		wg  sync.WaitGroup
	)
	jobs := make(chan int)
	start := time.Now()
	for range workers {
		wg.Go(func() {
			for i := range jobs {
				ok, why := send(client, newRequest, i)
				mu.Lock()
				if ok {
					res.OK++
				} else {
					res.Failed++
					if res.FirstFailure == "" {
						res.FirstFailure = why
					}
				}
				mu.Unlock()
			}
		})
	}
	for i := range calls {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	res.Took = time.Since(start)
	return res
}

func send(client *http.Client, newRequest func(int) (*http.Request, error), i int) (ok bool, why string) {
	req, err := newRequest(i)
	if err != nil {
		return false, err.Error()
	}
	resp, err := client.Do(req)
	if err != nil {
		return false, err.Error()
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return false, fmt.Sprintf("reading the body: %v", err)
	}
	return resp.StatusCode == http.StatusOK, resp.Status
}
