package redistest_test

import (
	"fmt"

	"github.com/rtchain/rtchain/idempotency/redisstore/redistest"
)

// A real Redis for a test, crashed and brought back on the same port.
func Example() {
	s, err := redistest.Launch("") // redistest.Start(t, dir) in a test
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Kill()
	s.Kill() // a crash: SIGKILL
	if err := s.Restart(); err != nil {
		fmt.Println(err)
		return
	}
	n, err := s.Clients()
	fmt.Println(n, err)
	// Output: 0 <nil>
}
