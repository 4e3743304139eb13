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
	var (
		mu  sync.Mutex
		res LoadResult
		wg  sync.WaitGroup
	)
	jobs := make(chan struct{})
	start := time.Now()
	for range workers {
		wg.Go(func() {
			for range jobs {
				ok, why := get(client, url)
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
	for range calls {
		jobs <- struct{}{}
	}
	close(jobs)
	wg.Wait()
	res.Took = time.Since(start)
	return res
}

func get(client *http.Client, url string) (ok bool, why string) {
	resp, err := client.Get(url)
	if err != nil {
		return false, err.Error()
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return false, fmt.Sprintf("reading the body: %v", err)
	}
	return resp.StatusCode == http.StatusOK, resp.Status
}
