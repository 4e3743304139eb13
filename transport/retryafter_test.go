package transport_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/rtchain/rtchain/transport"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	date := func(d time.Duration, layout string) string { return now.Add(d).Format(layout) }
	for _, tc := range []struct {
		name   string
		header http.Header
		want   time.Duration
		ok     bool
	}{
		{"absent", http.Header{}, 0, false},
		{"retry-after-ms", http.Header{"Retry-After-Ms": {"1500"}}, 1500 * time.Millisecond, true},
		{"x-ms-retry-after-ms", http.Header{"X-Ms-Retry-After-Ms": {"250"}}, 250 * time.Millisecond, true},
		{"milliseconds win", http.Header{"Retry-After-Ms": {"250"}, "Retry-After": {"1"}}, 250 * time.Millisecond, true},
		{"malformed milliseconds fall back", http.Header{"Retry-After-Ms": {"1.5"}, "Retry-After": {"2"}}, 2 * time.Second, true},
		{"negative milliseconds ignored", http.Header{"X-Ms-Retry-After-Ms": {"-5"}}, 0, false},
		{"huge milliseconds saturate", http.Header{"Retry-After-Ms": {"99999999999999999999"}}, (1 << 31) * time.Millisecond, true},
		{"seconds", http.Header{"Retry-After": {"120"}}, 2 * time.Minute, true},
		{"zero", http.Header{"Retry-After": {"0"}}, 0, true},
		{"spaces", http.Header{"Retry-After": {" 5 "}}, 5 * time.Second, true},
		{"negative", http.Header{"Retry-After": {"-1"}}, 0, false},
		{"plus sign", http.Header{"Retry-After": {"+5"}}, 0, false},
		{"fraction", http.Header{"Retry-After": {"1.5"}}, 0, false},
		{"garbage", http.Header{"Retry-After": {"later"}}, 0, false},
		{"empty", http.Header{"Retry-After": {""}}, 0, false},
		{"huge saturates", http.Header{"Retry-After": {"123456789012345678901234567890"}}, (1 << 31) * time.Second, true},
		{"IMF-fixdate", http.Header{"Retry-After": {date(90*time.Second, http.TimeFormat)}}, 90 * time.Second, true},
		{"RFC 850", http.Header{"Retry-After": {date(90*time.Second, time.RFC850)}}, 90 * time.Second, true},
		{"asctime", http.Header{"Retry-After": {date(90*time.Second, time.ANSIC)}}, 90 * time.Second, true},
		{"past date", http.Header{"Retry-After": {date(-time.Hour, http.TimeFormat)}}, 0, false},
		{"date now", http.Header{"Retry-After": {date(0, http.TimeFormat)}}, 0, false},
		{"date against server Date", http.Header{
			"Retry-After": {date(time.Hour+10*time.Second, http.TimeFormat)},
			"Date":        {date(time.Hour, http.TimeFormat)},
		}, 10 * time.Second, true},
		{"bad server Date ignored", http.Header{
			"Retry-After": {date(10*time.Second, http.TimeFormat)}, "Date": {"yesterday"},
		}, 10 * time.Second, true},
		{"far future date", http.Header{"Retry-After": {"Fri, 31 Dec 9999 23:59:59 GMT"}}, 1<<63 - 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := transport.ParseRetryAfter(tc.header, now)
			assert.Equal(t, tc.ok, ok)
			assert.Equal(t, tc.want, got)
			assert.GreaterOrEqual(t, got, time.Duration(0))
		})
	}
}
