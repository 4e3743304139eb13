package transport

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Timeouts' zero value is NewClient's timeouts, and a negative field is no
// bound: with both negative, the layer is not in the chain at all.
func TestTimeoutsZeroValueIsNewClients(t *testing.T) {
	base := &http.Transport{}
	tt, ok := Timeouts(TimeoutOptions{})(base).(*timeoutTransport)
	require.True(t, ok)
	assert.Equal(t, DefaultClientTimeout, tt.response)
	assert.Equal(t, DefaultBodyStallTimeout, tt.stall)

	tt = Timeouts(TimeoutOptions{Response: -1})(base).(*timeoutTransport)
	assert.Zero(t, tt.response)
	assert.Equal(t, DefaultBodyStallTimeout, tt.stall)

	assert.Same(t, base, Timeouts(TimeoutOptions{Response: -1, BodyStall: -1})(base))
}
