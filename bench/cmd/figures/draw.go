package main

import (
	"errors"
	"fmt"
	"image/color"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"

	"github.com/rtchain/rtchain/bench/figures"
)

// charts are the charts draw knows, by name. Most are one plot, drawn
// under the stamp of measured-NAME.txt when a run measured that chart
// alone (-only), or else of measured.txt; the overload chart draws its own
// canvas, with the stamp its data carries.
var charts = []chartDef{
	{"throttling", throttlingChart, nil},
	{"amplification", amplificationChart, nil},
	{"replay", replayChart, nil},
	{"overhead", overheadChart, nil},
	{"hedging", hedgingChart, nil},
	{"overload", nil, overloadChart},
}

type chartDef struct {
	name string
	plot func(dir, stamp string) (*plot.Plot, error)
	save func(dir, path, format string) error
}

// draw renders the charts named in only (every chart if none) from the
// data in dir into out.
func draw(dir, out, format string, only ...string) error {
	for _, c := range charts {
		if len(only) > 0 && !slices.Contains(only, c.name) {
			continue
		}
		path := filepath.Join(out, c.name+"."+format)
		if c.save != nil {
			if err := c.save(dir, path, format); err != nil {
				return fmt.Errorf("figures: %s: %w", c.name, err)
			}
			fmt.Fprintln(os.Stderr, "figures: wrote", path)
			continue
		}
		stamp, err := readStamp(dir, c.name)
		if err != nil {
			return err
		}
		p, err := c.plot(dir, stamp)
		if err != nil {
			return fmt.Errorf("figures: %s: %w", c.name, err)
		}
		if err := p.Save(9*vg.Inch, 4.5*vg.Inch, path); err != nil {
			return err
		}
		fmt.Fprintln(os.Stderr, "figures: wrote", path)
	}
	return nil
}

// readStamp is the line the chart called name carries: when and where its
// data was measured (written by measure).
func readStamp(dir, name string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, "measured-"+name+".txt"))
	if errors.Is(err, fs.ErrNotExist) {
		b, err = os.ReadFile(filepath.Join(dir, "measured.txt"))
	}
	if err != nil {
		return "", err
	}
	when, machine, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	t, err := time.Parse(time.RFC3339, when)
	if err != nil {
		return "", err
	}
	return "measured " + t.Format("2006-01-02 15:04 MST") + ", " + machine + "; cd bench && go run ./cmd/figures", nil
}

// newPlot is a plot with a title, the stamp under it, and axis labels.
func newPlot(title, stamp, x, y string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title + "\n" + stamp
	p.Title.TextStyle.Font.Size = vg.Points(10)
	p.X.Label.Text, p.Y.Label.Text = x, y
	p.Legend.Top = true
	p.Add(plotter.NewGrid())
	return p
}

func throttlingChart(dir, stamp string) (*plot.Plot, error) {
	var d figures.Throttling
	if err := figures.Load(dir, "throttling", &d); err != nil {
		return nil, err
	}
	p := newPlot(fmt.Sprintf("Throttling: requests per second at an origin that admits %.0f/s (bucket of %.0f); %d calls, 10 workers", d.Limit, d.Burst, d.Calls),
		stamp, "seconds since the start", "requests per second (0.5 s bins)")
	const bin = 0.5
	end := 0.0
	for _, c := range d.Clients {
		for _, s := range c.Sent {
			end = max(end, s)
		}
	}
	limit, err := plotter.NewLine(plotter.XYs{{X: 0, Y: d.Limit}, {X: end, Y: d.Limit}})
	if err != nil {
		return nil, err
	}
	limit.Color, limit.Dashes = color.Gray{Y: 80}, []vg.Length{vg.Points(6), vg.Points(3)}
	p.Add(limit)
	p.Legend.Add("the origin's limit", limit)
	for i, c := range d.Clients {
		sent, throttled := make([]float64, int(end/bin)+1), make([]float64, int(end/bin)+1)
		for j, s := range c.Sent {
			sent[int(s/bin)] += 1 / bin
			if c.Status[j] == 429 {
				throttled[int(s/bin)] += 1 / bin
			}
		}
		for k, v := range map[string][]float64{"sent": sent, "answered 429": throttled} {
			xy := make(plotter.XYs, len(v))
			for b := range v {
				xy[b] = plotter.XY{X: float64(b) * bin, Y: v[b]}
			}
			l, err := plotter.NewLine(xy)
			if err != nil {
				return nil, err
			}
			l.Color = plotutil.Color(i)
			l.Width = vg.Points(1.5)
			if k != "sent" {
				l.Dashes = []vg.Length{vg.Points(2), vg.Points(2)}
				l.Width = vg.Points(1)
			}
			p.Add(l)
			p.Legend.Add(c.Client+", "+k, l)
		}
	}
	p.Y.Min = 0
	return p, nil
}

func amplificationChart(dir, stamp string) (*plot.Plot, error) {
	var d []figures.Amplified
	if err := figures.Load(dir, "amplification", &d); err != nil {
		return nil, err
	}
	p := newPlot("Outage amplification: requests a server answering 503 saw per call (1,000 calls, 3 retries)",
		stamp, "", "requests ÷ calls")
	vals, names := make(plotter.Values, len(d)), make([]string, len(d))
	for i, a := range d {
		vals[i], names[i] = a.Ratio, fmt.Sprintf("%s\n%.2f", a.Client, a.Ratio)
	}
	return p, addBars(p, vals, names, 0)
}

// addBars draws vals as bars in the plotutil colour numbered color, named
// under the axis, from 0 up.
func addBars(p *plot.Plot, vals plotter.Values, names []string, color int) error {
	bars, err := plotter.NewBarChart(vals, vg.Points(30))
	if err != nil {
		return err
	}
	bars.Color = plotutil.Color(color)
	p.Add(bars)
	p.NominalX(names...)
	p.Y.Min = 0
	return nil
}

func replayChart(dir, stamp string) (*plot.Plot, error) {
	var d []figures.Replayed
	if err := figures.Load(dir, "replay", &d); err != nil {
		return nil, err
	}
	p := newPlot("Body replay: peak heap for a PUT from a plain reader, answered 503 then 200",
		stamp, "body size (MiB)", "peak live heap (MiB)")
	p.X.Scale, p.Y.Scale = plot.LogScale{}, plot.LogScale{}
	p.X.Tick.Marker, p.Y.Tick.Marker = plot.LogTicks{Prec: -1}, plot.LogTicks{Prec: -1}
	p.Legend.Left = true
	for i, r := range d {
		xy := make(plotter.XYs, len(r.SizeMiB))
		for j := range r.SizeMiB {
			xy[j] = plotter.XY{X: r.SizeMiB[j], Y: math.Max(r.PeakMiB[j], 0.01)}
		}
		l, pts, err := plotter.NewLinePoints(xy)
		if err != nil {
			return nil, err
		}
		l.Color, pts.Color = plotutil.Color(i), plotutil.Color(i)
		pts.Shape = plotutil.Shape(i)
		p.Add(l, pts)
		p.Legend.Add(r.Client, l, pts)
	}
	return p, nil
}

func overheadChart(dir, stamp string) (*plot.Plot, error) {
	var d []figures.Overhead
	if err := figures.Load(dir, "overhead", &d); err != nil {
		return nil, err
	}
	runs := 0
	if len(d) > 0 {
		runs = d[0].Runs
	}
	p := newPlot(fmt.Sprintf("Overhead: a bodiless GET over a canned base (no network), median of %d runs; allocs/op under each name (the canned response is 1)", runs),
		stamp, "", "ns per call")
	vals, names := make(plotter.Values, len(d)), make([]string, len(d))
	for i, o := range d {
		vals[i], names[i] = o.NsOp, fmt.Sprintf("%s\n%.0f ns, %.0f allocs", strings.ReplaceAll(strings.ReplaceAll(o.Client, "_", " "), "/", "/\n"), o.NsOp, o.AllocsOp)
	}
	return p, addBars(p, vals, names, 1)
}

func hedgingChart(dir, stamp string) (*plot.Plot, error) {
	var d []figures.Hedged
	if err := figures.Load(dir, "hedging", &d); err != nil {
		return nil, err
	}
	p := newPlot("Hedging: share of calls slower than a latency; a server taking 1 ms, 300 ms one time in 20 (2,000 GETs)",
		stamp, "latency (ms)", "share of calls slower")
	p.X.Scale, p.Y.Scale = plot.LogScale{}, plot.LogScale{}
	p.X.Tick.Marker, p.Y.Tick.Marker = plot.LogTicks{Prec: -1}, plot.LogTicks{Prec: -1}
	p.Legend.Top, p.Legend.Left = false, true
	for i, h := range d {
		n := float64(len(h.LatencyMs))
		xy := make(plotter.XYs, 0, len(h.LatencyMs))
		for j, ms := range h.LatencyMs {
			if slower := (n - float64(j+1)) / n; slower > 0 {
				xy = append(xy, plotter.XY{X: math.Max(ms, 0.1), Y: slower})
			}
		}
		l, err := plotter.NewLine(xy)
		if err != nil {
			return nil, err
		}
		l.Color = plotutil.Color(i)
		l.Width = vg.Points(1.5)
		l.Dashes = plotutil.Dashes(i)
		p.Add(l)
		p.Legend.Add(fmt.Sprintf("%s (+%.1f%% requests)", h.Client, 100*h.ExtraShare), l)
	}
	p.Legend.YOffs = vg.Points(0)
	return p, nil
}
