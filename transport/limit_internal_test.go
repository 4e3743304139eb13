package transport

import (
	"testing"

	"github.com/rtchain/rtchain/internal/adaptive"
)

// LimitOptions' doc says its defaults in numbers: they are the adaptive
// limit's.
func TestLimitOptionsDocSaysTheDefaults(t *testing.T) {
	if adaptive.DefaultInitialLimit != 20 || adaptive.DefaultMinLimit != 1 || adaptive.DefaultMaxLimit != 1000 || adaptive.DefaultTolerance != 1.5 {
		t.Errorf("the adaptive limit's defaults changed: update LimitOptions' doc (20, 1, 1000, 1.5) to %d, %d, %d, %v",
			adaptive.DefaultInitialLimit, adaptive.DefaultMinLimit, adaptive.DefaultMaxLimit, adaptive.DefaultTolerance)
	}
}
