package overload

import "time"

// parseTimeout reads a caller's time to wait: an integer of milliseconds,
// or a grpc-timeout value (1 to 8 digits, then H, M, S, m, u or n).
func parseTimeout(v string) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	if n, ok := number(v); ok {
		return time.Duration(n) * time.Millisecond, n > 0
	}
	digits, unit := v[:len(v)-1], v[len(v)-1]
	n, ok := number(digits)
	if !ok || len(digits) > 8 || n == 0 {
		return 0, false
	}
	var u time.Duration
	switch unit {
	case 'H':
		u = time.Hour
	case 'M':
		u = time.Minute
	case 'S':
		u = time.Second
	case 'm':
		u = time.Millisecond
	case 'u':
		u = time.Microsecond
	case 'n':
		u = time.Nanosecond
	default:
		return 0, false
	}
	return time.Duration(n) * u, true
}
