package rtotel_test

import (
	"net/http"
	"os/exec"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/otlptranslator"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/rtchain/rtchain/rtotel"
)

// The alerting rules of docs/monitoring pass promtool's checks and their
// unit tests (alerts_test.yml: each alert firing, and not), where promtool
// is installed (Debian's prometheus package; .ci/run installs it).
func TestAlertRules(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool is not installed (Debian's package: apt-get install prometheus; .ci/run installs it): " + err.Error())
	}
	for _, args := range [][]string{{"check", "rules", "alerts.yml"}, {"test", "rules", "alerts_test.yml"}} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = "../docs/monitoring"
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// The Prometheus snippet (docs/observability.md), compiled; see
// transport/docs_snippets_test.go.
var _ = snippetPrometheus

func snippetPrometheus() (*rtotel.Instrumentation, error) {
	reg := prometheus.NewRegistry()
	exporter, err := otelprom.New(otelprom.WithRegisterer(reg),
		otelprom.WithTranslationStrategy(otlptranslator.UnderscoreEscapingWithSuffixes)) // the names of docs/monitoring
	if err != nil {
		return nil, err
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter))
	inst, err := rtotel.New(rtotel.Options{MeterProvider: mp})
	if err != nil {
		return nil, err
	}
	http.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	return inst, nil
}
