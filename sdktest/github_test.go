package sdktest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"testing"

	"github.com/google/go-github/v75/github"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtchain/rtchain/transport"
)

// fakeGitHub is the part of GitHub's REST API the tests call: create and
// get issues of one repository. Like GitHub, it ignores Idempotency-Key.
// It fails the requests its script says, in order: "503" before acting,
// "502 after" creates the issue and then answers 502 (a proxy lost the
// answer), "lost" creates it and drops the connection.
type fakeGitHub struct {
	mu       sync.Mutex
	script   []string
	issues   []github.Issue
	requests int
	keys     []string // Idempotency-Key of each request
}

func (f *fakeGitHub) client(t *testing.T, srvURL string, hc *http.Client) *github.Client {
	t.Helper()
	c := github.NewClient(hc).WithAuthToken("ghp_fake")
	base, err := url.Parse(srvURL + "/")
	require.NoError(t, err)
	c.BaseURL = base
	return c
}

func (f *fakeGitHub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.requests++
	f.keys = append(f.keys, r.Header.Get("Idempotency-Key"))
	step := ""
	if len(f.script) > 0 {
		step, f.script = f.script[0], f.script[1:]
	}
	f.mu.Unlock()
	if r.Header.Get("Authorization") != "Bearer ghp_fake" {
		http.Error(w, `{"message":"Bad credentials"}`, http.StatusUnauthorized)
		return
	}
	if step == "503" {
		http.Error(w, `{"message":"Service Unavailable"}`, http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/repos/o/r/issues":
		var req github.IssueRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Title == nil {
			http.Error(w, `{"message":"Problems parsing JSON"}`, http.StatusBadRequest)
			return
		}
		f.mu.Lock()
		n := len(f.issues) + 1
		issue := github.Issue{Number: github.Ptr(n), Title: req.Title}
		f.issues = append(f.issues, issue)
		f.mu.Unlock()
		switch step {
		case "502 after":
			http.Error(w, `{"message":"Bad Gateway"}`, http.StatusBadGateway)
			return
		case "lost":
			dropAnswer(w)
			return
		}
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(issue)
	case r.Method == http.MethodGet:
		var n int
		if _, err := fmt.Sscanf(r.URL.Path, "/repos/o/r/issues/%d", &n); err != nil {
			http.NotFound(w, r)
			return
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		if n < 1 || n > len(f.issues) {
			http.Error(w, `{"message":"Not Found"}`, http.StatusNotFound)
			return
		}
		_ = json.NewEncoder(w).Encode(f.issues[n-1])
	default:
		http.NotFound(w, r)
	}
}

func (f *fakeGitHub) count() (issues, requests int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.issues), f.requests
}

// githubClient is the recipe for go-github: NewClient's chain as it is.
// go-github reads an error response's body and replaces it without closing
// it; under an http.Client.Timeout, net/http kept a goroutine per such call
// until the timeout fired. NewClient's own timeouts leave none (goleak
// checks it at the end of the tests).
func githubClient(o transport.ClientOptions) *http.Client {
	return fastClient(o)
}

func startGitHub(t *testing.T, hc *http.Client, script ...string) (*fakeGitHub, *github.Client) {
	t.Helper()
	f := &fakeGitHub{script: script}
	return f, f.client(t, serve(t, f), hc)
}

func TestGitHubGetRetried(t *testing.T) {
	f, gh := startGitHub(t, githubClient(transport.ClientOptions{}), "", "503", "503")
	_, _, err := gh.Issues.Create(context.Background(), "o", "r", &github.IssueRequest{Title: github.Ptr("flaky")})
	require.NoError(t, err)
	issue, _, err := gh.Issues.Get(context.Background(), "o", "r", 1)
	require.NoError(t, err)
	assert.Equal(t, "flaky", issue.GetTitle())
	_, requests := f.count()
	assert.Equal(t, 4, requests, "one create, then a GET answered 503, 503, 200")
}

// A create whose answer is lost: NewClient sends it once. GitHub ignores
// Idempotency-Key, so a retry would open a second issue; the caller gets
// the error and one issue exists.
func TestGitHubCreateWithALostAnswerHappensOnce(t *testing.T) {
	for _, step := range []string{"502 after", "lost"} {
		t.Run(step, func(t *testing.T) {
			f, gh := startGitHub(t, githubClient(transport.ClientOptions{}), step)
			_, _, err := gh.Issues.Create(context.Background(), "o", "r", &github.IssueRequest{Title: github.Ptr("once")})
			require.Error(t, err, "the caller learns the answer was lost")
			issues, requests := f.count()
			assert.Equal(t, 1, requests, "a POST that reached the server is not sent again")
			assert.Equal(t, 1, issues, "exactly one effect")
		})
	}
}

// A create the server refused (503 before acting) is sent again, and
// happens once: a refusal is not an effect.
func TestGitHubRefusedCreateIsRetried(t *testing.T) {
	f, gh := startGitHub(t, githubClient(transport.ClientOptions{}), "503")
	issue, _, err := gh.Issues.Create(context.Background(), "o", "r", &github.IssueRequest{Title: github.Ptr("once")})
	require.NoError(t, err)
	assert.Equal(t, "once", issue.GetTitle())
	issues, requests := f.count()
	assert.Equal(t, 2, requests, "the refusal, then the create")
	assert.Equal(t, 1, issues, "exactly one effect")
}

// Why ClientOptions.IdempotencyKeys is off by default: against a server
// that ignores the header, the key makes a POST retryable, and a create
// whose answer was lost happens twice.
func TestGitHubIgnoresIdempotencyKeys(t *testing.T) {
	f, gh := startGitHub(t, githubClient(transport.ClientOptions{IdempotencyKeys: true}), "502 after")
	_, _, err := gh.Issues.Create(context.Background(), "o", "r", &github.IssueRequest{Title: github.Ptr("twice")})
	require.NoError(t, err)
	issues, _ := f.count()
	assert.Equal(t, 2, issues, "two issues for one call: never turn keys on for such a server")
	assert.NotEmpty(t, f.keys[0])
	assert.Equal(t, f.keys[0], f.keys[1], "the same key was sent, and ignored")
}
