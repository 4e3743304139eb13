package transport_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/rtchain/rtchain/transport"
)

func TestBudgetForOtherProtocols(t *testing.T) {
	b := transport.NewBudget(transport.RetryBudget{Ratio: 0.5, MaxBanked: 1, MinPerSecond: -1})
	assert.True(t, b.Retry("a"), "a new target starts with its bank")
	assert.False(t, b.Retry("a"), "then it is empty")
	b.Call("a")
	assert.False(t, b.Retry("a"), "half a retry is not one")
	b.Call("a")
	assert.True(t, b.Retry("a"), "two calls at 50% pay for one")
	b.Refund("a")
	assert.True(t, b.Retry("a"), "a refund gives it back")
	assert.True(t, b.Retry("b"), "targets are apart")

	var off *transport.Budget = transport.NewBudget(transport.RetryBudget{Disabled: true})
	assert.Nil(t, off)
	off.Call("a")
	assert.True(t, off.Retry("a"), "a disabled budget allows every retry")
}

func TestFullJitter(t *testing.T) {
	for k := 1; k < 70; k++ {
		d := transport.FullJitter(100*time.Millisecond, 5*time.Second, k)
		assert.GreaterOrEqual(t, d, time.Duration(0))
		assert.Less(t, d, min(5*time.Second, 100*time.Millisecond<<min(k-1, 10)+1))
	}
}
