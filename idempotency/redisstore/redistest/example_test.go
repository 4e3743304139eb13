package redistest_test

import (
	"fmt"
	"time"

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

// A Redis Cluster of three masters with a replica each; a master killed,
// its replica promoted.
func ExampleStartCluster() {
	c, err := redistest.LaunchCluster(3, 1) // redistest.StartCluster(t, 3, 1) in a test
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Remove()
	c.Masters()[0].Kill()
	if err := c.WaitHealthy(30 * time.Second); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(len(c.Nodes), "nodes,", len(c.Masters()), "masters")
	// Output: 6 nodes, 3 masters
}
