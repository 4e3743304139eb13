package sdktest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"

	"github.com/rtchain/rtchain/rtaws"
	"github.com/rtchain/rtchain/transport"
)

// The figures of docs/sdks.md's AWS section: rtaws beside the SDK's
// standard and adaptive retryers, each with its defaults for DynamoDB, in
// the same run, against a simulated DynamoDB (in memory) that checks every
// request's signature, in virtual time (testing/synctest): the simulated
// seconds are not waited for, only the calls' own work is done. There is
// no rtchain transport under the SDK here, so that the retryers alone are
// compared. RTAWS_FIGURES=full runs them at full size (more workers,
// shorter latency: more calls; about a minute).

// figureScale is the size of the simulations.
type figureScale struct {
	outageWorkers int           // closed-loop workers in the outage
	latency       time.Duration // of every answer
	writes        int           // per worker, in the hot-key run
}

func scaleOfFigures() figureScale {
	if os.Getenv("RTAWS_FIGURES") == "full" {
		return figureScale{outageWorkers: 32, latency: 10 * time.Millisecond, writes: 500}
	}
	return figureScale{outageWorkers: 8, latency: 50 * time.Millisecond, writes: 100}
}

// contender is a retryer under test, as a DynamoDB client takes it.
type contender struct {
	name      string
	configure func(*dynamodb.Options)
}

var contenders = []contender{
	{"SDK standard", func(o *dynamodb.Options) { o.RetryMode = aws.RetryModeStandard }},
	{"SDK adaptive", func(o *dynamodb.Options) { o.Retryer = pollingAdaptive() }},
	{"rtaws", func(o *dynamodb.Options) {
		o.Retryer = rtaws.NewRetryer(rtaws.Options{})
		o.APIOptions = append(o.APIOptions, rtaws.AddScope)
	}},
}

// pollingAdaptive is the SDK's adaptive retryer as a DynamoDB client makes
// it (4 attempts, 25 ms base), but for one thing: its wait for a send
// token is made by polling the token bucket every millisecond, not by its
// own sleep. That sleep can round to zero nanoseconds, when the bucket holds a
// hair less than a token; in real time the clock moves on and the loop
// ends, but in a synctest bubble, where the clock moves only when every
// goroutine waits, the loop spins forever (seen here). Polling makes each
// of its waits at most 1 ms longer, beside answers of 10 ms or more.
func pollingAdaptive() aws.Retryer {
	return adaptivePoller{retry.NewAdaptiveMode(func(o *retry.AdaptiveModeOptions) {
		o.FailOnNoAttemptTokens = true
		o.StandardOptions = append(o.StandardOptions, func(so *retry.StandardOptions) {
			so.MaxAttempts, so.BaseDelay = 4, 25*time.Millisecond // DynamoDB's
		})
	})}
}

type adaptivePoller struct{ *retry.AdaptiveMode }

func (p adaptivePoller) GetAttemptToken(ctx context.Context) (func(error) error, error) {
	for {
		release, err := p.AdaptiveMode.GetAttemptToken(ctx)
		if err == nil || !strings.Contains(err.Error(), "FailOnNoAttemptTokens") {
			return release, err
		}
		t := time.NewTimer(time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}

// client returns a DynamoDB client of c's on sim. (c configures the
// options before dynamodb.New, which resolves the retry mode before it
// applies functional options.)
func (c contender) client(sim *simDynamoDB) *dynamodb.Client {
	o := dynamodb.Options{Region: "us-east-1", BaseEndpoint: aws.String("https://dynamodb.test"),
		Credentials: fakeCreds, HTTPClient: inMemory(sim)}
	c.configure(&o)
	return dynamodb.New(o)
}

// simDynamoDB answers PutItem after latency as answer says for the table
// and the time of arrival: "" success, "503" ServiceUnavailable, "500"
// InternalServerError, "throttle" ProvisionedThroughputExceededException.
// It checks each request's SigV4 signature, as fakeAWSJSON does.
type simDynamoDB struct {
	latency time.Duration
	answer  func(table string, now time.Time) string

	mu       sync.Mutex
	arrivals []arrival
	badSigs  int
}

type arrival struct {
	table string
	at    time.Time
}

func (s *simDynamoDB) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	var in struct{ TableName string }
	_ = json.Unmarshal(body, &in)
	now := time.Now()
	sigErr := checkSigV4(r, body, fakeSecret, now)
	s.mu.Lock()
	s.arrivals = append(s.arrivals, arrival{in.TableName, now})
	if sigErr != nil {
		s.badSigs++
	}
	answer := s.answer(in.TableName, now)
	s.mu.Unlock()
	t := time.NewTimer(s.latency)
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.Context().Done():
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	code := map[string]int{"503": 503, "500": 500, "throttle": 400}[answer]
	name := map[string]string{"503": "ServiceUnavailable", "500": "InternalServerError", "throttle": "ProvisionedThroughputExceededException"}[answer]
	if code == 0 {
		_, _ = io.WriteString(w, `{}`)
		return
	}
	w.WriteHeader(code)
	fmt.Fprintf(w, `{"__type":"com.amazonaws.dynamodb.v20120810#%s","message":"%s (simulated)"}`, name, name)
}

// requests counts the arrivals for table ("" for all) in [from, to).
func (s *simDynamoDB) requests(table string, from, to time.Time) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, a := range s.arrivals {
		if (table == "" || a.table == table) && !a.at.Before(from) && a.at.Before(to) {
			n++
		}
	}
	return n
}

// outcome is one call's.
type outcome struct {
	start time.Time
	took  time.Duration
	err   error
}

// quotaError reports whether err failed a call because a client-side
// limit on retries refused one: the SDK's retry quota, or rtaws's budget.
func quotaError(err error) bool {
	var quota ratelimit.QuotaExceededError
	var giveUp *rtaws.GiveUpError
	return errors.As(err, &quota) || errors.As(err, &giveUp) && giveUp.Reason == transport.GiveUpBudget
}

// errorKind names what ended a failed call: a client-side limit, the
// attempts running out, or else the error's text.
func errorKind(err error) string {
	var attempts *retry.MaxAttemptsError
	switch {
	case quotaError(err):
		return "quota"
	case errors.As(err, &attempts):
		return "attempts"
	}
	return err.Error()
}

// figureRNG is a seeded source for the simulations' background failures,
// to be used under the simulation's lock.
func figureRNG() *rand.Rand { return rand.New(rand.NewPCG(37, 3)) }

// outageFigures are figures (a) and (c) for one retryer.
type outageFigures struct {
	// In the outage: calls begun, requests received, calls failed, and
	// failed by a client-side limit (quotaError); the mean time a failed
	// call took, and the error most failed calls ended with (its kind's
	// last one, of a call that ended in the outage), and how many did.
	calls, requests, failed, quota int
	meanTimeToFail                 time.Duration
	typicalError                   string
	typicalShare                   int
	// After it: calls begun, requests, failed, failed by a limit (in the
	// first second, and later: the lockout).
	after, afterRequests, afterFailed int
	quotaFirstSecond, quotaLater      int
	badSigs                           int
}

const (
	outageLength   = 20 * time.Second
	recoveryLength = 10 * time.Second
	recoveryFailed = 0.05 // of requests, after the outage: a tail of transient 500s
)

// runOutage runs workers in a closed loop of PutItem calls through a
// 20 s outage (every request answered 503), then 10 s after recovery, when
// 5% of requests fail with a transient 500. It runs in a synctest bubble.
func runOutage(c contender, sc figureScale) outageFigures {
	start := time.Now()
	recovered, end := start.Add(outageLength), start.Add(outageLength+recoveryLength)
	rng := figureRNG()
	sim := &simDynamoDB{latency: sc.latency, answer: func(_ string, now time.Time) string {
		switch {
		case now.Before(recovered):
			return "503"
		case rng.Float64() < recoveryFailed:
			return "500"
		}
		return ""
	}}
	client := c.client(sim)
	var mu sync.Mutex
	var outcomes []outcome
	var wg sync.WaitGroup
	for range sc.outageWorkers {
		wg.Go(func() {
			for time.Now().Before(end) {
				o := outcome{start: time.Now()}
				o.err = putItemIn(client, "orders")
				o.took = time.Since(o.start)
				mu.Lock()
				outcomes = append(outcomes, o)
				mu.Unlock()
			}
		})
	}
	wg.Wait()

	var f outageFigures
	var failTime time.Duration
	kinds := map[string]int{}
	examples := map[string]string{}
	for _, o := range outcomes {
		if o.start.Before(recovered) {
			f.calls++
			if o.err != nil {
				f.failed++
				failTime += o.took
				kind := errorKind(o.err)
				kinds[kind]++
				if o.start.Add(o.took).Before(recovered) {
					examples[kind] = o.err.Error()
				}
				if quotaError(o.err) {
					f.quota++
				}
			}
			continue
		}
		f.after++
		if o.err == nil {
			continue
		}
		f.afterFailed++
		switch {
		case !quotaError(o.err):
		case o.start.Before(recovered.Add(time.Second)):
			f.quotaFirstSecond++
		default:
			f.quotaLater++
		}
	}
	if f.failed > 0 {
		f.meanTimeToFail = failTime / time.Duration(f.failed)
	}
	for kind, n := range kinds {
		if n > f.typicalShare {
			f.typicalShare, f.typicalError = n, examples[kind]
		}
	}
	f.requests = sim.requests("", start, recovered)
	f.afterRequests = sim.requests("", recovered, end)
	f.badSigs = sim.badSigs
	return f
}

// Figures (a) and (c): a 20-second outage of DynamoDB (every request
// answered 503), then recovery. During the outage: requests per call, the
// time a call takes to fail, and the error a caller reads. After it: the
// calls that failed because the client would not retry them.
func TestRTAWSFigureOutage(t *testing.T) {
	sc := scaleOfFigures()
	synctest.Test(t, func(t *testing.T) {
		t.Logf("figure (a): %d workers calling PutItem in a closed loop, answers after %v; a %v outage (503 to every request)",
			sc.outageWorkers, sc.latency, outageLength)
		t.Logf("%-13s %7s %14s %18s %22s", "retryer", "calls", "requests/call", "mean time to fail", "failed by a quota")
		results := map[string]outageFigures{}
		for _, c := range contenders {
			f := runOutage(c, sc)
			results[c.name] = f
			require.Zero(t, f.badSigs, "%s: every request is signed", c.name)
			t.Logf("%-13s %7d %14.2f %18v %22d", c.name, f.calls, float64(f.requests)/float64(f.calls),
				f.meanTimeToFail.Round(time.Millisecond), f.quota)
		}
		for _, c := range contenders {
			f := results[c.name]
			t.Logf("%s's error, as %d of %d failed calls had it:\n%s", c.name, f.typicalShare, f.failed, indent(f.typicalError))
		}
		t.Logf("figure (c): the %v after the outage, when %.0f%% of requests fail with a transient 500", recoveryLength, 100*recoveryFailed)
		t.Logf("%-13s %7s %14s %8s %30s", "retryer", "calls", "requests/call", "failed", "by a quota: 1st second, later")
		for _, c := range contenders {
			f := results[c.name]
			t.Logf("%-13s %7d %14.2f %8d %30s", c.name, f.after, float64(f.afterRequests)/float64(f.after), f.afterFailed,
				fmt.Sprintf("%d, %d", f.quotaFirstSecond, f.quotaLater))
		}

		r := results["rtaws"]
		// Retries: 10% of calls, the 10 banked at the start, and the floor
		// (10 a second, 10 of them at once at the start).
		floor := transport.DefaultBudgetMaxBanked + transport.DefaultBudgetMinPerSecond*(outageLength.Seconds()+1)
		assert.LessOrEqual(t, float64(r.requests), float64(r.calls)*(1+transport.DefaultBudgetRatio)+floor,
			"rtaws: an outage is not multiplied: retries are 10%% of calls, with a floor of 10 a second")
		assert.Contains(t, r.typicalError, "the client spent its retry budget")
		assert.Contains(t, r.typicalError, "the service last answered 503 ServiceUnavailable")
		assert.Zero(t, r.quotaLater, "rtaws: no call fails for its budget once the service is back")
	})
}

// tableFigures are one table's, in the hot-key run.
type tableFigures struct {
	took                 time.Duration // until its last worker was done
	busy                 time.Duration // its calls' durations, added up
	calls, failed, quota int
	requests             int
}

const (
	hotTable, otherTable = "orders", "users"
	hotKeyRate           = 50   // writes a second the hot key's partition accepts
	backgroundFailed     = 0.02 // of requests to either table: transient 500s
)

// runHotKey runs 8 workers, 4 writing to each of two tables; when
// throttled, the hot table's partition accepts 50 writes a second and
// throttles the rest (ProvisionedThroughputExceededException). 2% of all
// requests fail with a transient 500. It runs in a synctest bubble.
func runHotKey(c contender, sc figureScale, throttled bool) (hot, other tableFigures, badSigs int) {
	start := time.Now()
	// Each table's requests fail in the same order in every run: the
	// calm run and the throttled one meet the same 500s.
	rngs := map[string]*rand.Rand{hotTable: figureRNG(), otherTable: figureRNG()}
	partition := rate.NewLimiter(hotKeyRate, 5)
	sim := &simDynamoDB{latency: 10 * time.Millisecond, answer: func(table string, now time.Time) string {
		switch {
		case throttled && table == hotTable && !partition.AllowN(now, 1):
			return "throttle"
		case rngs[table].Float64() < backgroundFailed:
			return "500"
		}
		return ""
	}}
	client := c.client(sim)
	var mu sync.Mutex
	figures := map[string]*tableFigures{hotTable: &hot, otherTable: &other}
	var wg sync.WaitGroup
	for w := range 8 {
		table := []string{hotTable, otherTable}[w%2]
		wg.Go(func() {
			for range sc.writes {
				began := time.Now()
				err := putItemIn(client, table)
				mu.Lock()
				f := figures[table]
				f.calls++
				f.busy += time.Since(began)
				if err != nil {
					f.failed++
					if quotaError(err) {
						f.quota++
					}
				}
				mu.Unlock()
			}
			mu.Lock()
			figures[table].took = max(figures[table].took, time.Since(start))
			mu.Unlock()
		})
	}
	wg.Wait()
	end := time.Now().Add(time.Nanosecond)
	hot.requests, other.requests = sim.requests(hotTable, start, end), sim.requests(otherTable, start, end)
	return hot, other, sim.badSigs
}

// Figure (b): one table in two throttled on a hot key, 8 workers. The
// other table's writes should take as long as with no throttling at all
// (goal: at most 1.1 times as long, by the time its calls take, added up;
// the time until its last worker is done, which depends on which worker
// met the 500s, is printed beside).
func TestRTAWSFigureHotKey(t *testing.T) {
	sc := scaleOfFigures()
	synctest.Test(t, func(t *testing.T) {
		t.Logf("figure (b): 8 workers, 4 writing %d items each to %q and 4 to %q, answers after 10ms, %.0f%% transient 500s; "+
			"%q's hot key accepts %d writes a second", sc.writes, hotTable, otherTable, 100*backgroundFailed, hotTable, hotKeyRate)
		t.Logf("%-13s %25s %20s %13s %16s %15s %13s", "retryer", otherTable+": time (vs none)", otherTable+": done after",
			otherTable+": failed", hotTable+": done after", hotTable+": failed", hotTable+": req/call")
		ratios := map[string]float64{}
		for _, c := range contenders {
			_, calm, bad1 := runHotKey(c, sc, false)
			hot, other, bad2 := runHotKey(c, sc, true)
			require.Zero(t, bad1+bad2, "%s: every request is signed", c.name)
			ratios[c.name] = float64(other.busy) / float64(calm.busy)
			t.Logf("%-13s %25s %20s %13d %16v %15s %13.2f", c.name,
				fmt.Sprintf("%v (%.2f×)", (other.busy/4).Round(time.Millisecond), ratios[c.name]),
				fmt.Sprintf("%v (%v)", other.took.Round(time.Millisecond), calm.took.Round(time.Millisecond)),
				other.failed, hot.took.Round(time.Millisecond), fmt.Sprintf("%d (%d quota)", hot.failed, hot.quota),
				float64(hot.requests)/float64(hot.calls))
		}
		assert.LessOrEqual(t, ratios["rtaws"], 1.1, "rtaws: the other table is not slowed by the hot one")
		assert.Greater(t, ratios["SDK adaptive"], 2.0, "the adaptive retryer paces the whole client (if this fails, the SDK changed: the figures in docs/sdks.md are to be taken again)")
	})
}

func indent(s string) string { return "    " + strings.ReplaceAll(s, "\n", "\n    ") }
