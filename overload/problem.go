package overload

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"
)

// ProblemBase is the start of the type URI of the problems Middleware
// answers with (RFC 9457); each ends with a fragment naming the problem, a
// heading of rtchain's docs/problems.md.
const ProblemBase = "https://github.com/rtchain/rtchain/blob/main/docs/problems.md#"

// The problems, as the fragments of their type URIs. Both are answered
// 503 with Retry-After and retry-after-ms.
const (
	ProblemOverloaded = "overloaded"        // ErrOverloaded, or the caller left while it waited
	ProblemDeadline   = "deadline-too-near" // ErrDeadline
)

// RetryAfterMsHeader names the header of a refusal's wait in milliseconds
// (as OpenAI's and Azure's APIs send it, and rtchain's client reads it).
const RetryAfterMsHeader = "Retry-After-Ms"

// problems holds the bodies of the answers, made once.
type problems struct{ overloaded, deadline []byte }

func newProblems() problems {
	body := func(kind, title, detail string) []byte {
		b, err := json.Marshal(struct {
			Type   string `json:"type"`
			Title  string `json:"title"`
			Status int    `json:"status"`
			Detail string `json:"detail,omitempty"`
		}{ProblemBase + kind, title, http.StatusServiceUnavailable, detail})
		if err != nil {
			panic(err)
		}
		return append(b, '\n')
	}
	return problems{
		overloaded: body(ProblemOverloaded, "Server overloaded",
			"the request was not started; retry after the wait in retry-after-ms"),
		deadline: body(ProblemDeadline, "Deadline too near to be served in time",
			"the request was not started: it could not be answered within its deadline"),
	}
}

// refuse writes a 503 problem+json answer for err, asking for wait.
func (p problems) refuse(w http.ResponseWriter, err error, wait time.Duration) {
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("Cache-Control", "no-store")
	h.Set("Retry-After", strconv.FormatInt(int64((wait+time.Second-1)/time.Second), 10))
	h.Set(RetryAfterMsHeader, strconv.FormatInt(max(1, wait.Milliseconds()), 10))
	w.WriteHeader(http.StatusServiceUnavailable)
	if errors.Is(err, ErrDeadline) {
		_, _ = w.Write(p.deadline)
		return
	}
	_, _ = w.Write(p.overloaded)
}
