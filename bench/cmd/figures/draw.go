package main

import (
	"bytes"
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
	vgdraw "gonum.org/v1/plot/vg/draw"

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
	name   string
	plot   func(dir, stamp string) (figure, error)
	canvas func(dir, format string) (vg.CanvasWriterTo, error)
}

// figure is a plot and its legend, which is drawn under the plot, off the
// data, rather than in a corner of it.
type figure struct {
	plot   *plot.Plot
	legend []legendEntry
}

type legendEntry struct {
	name   string
	thumbs []plot.Thumbnailer
}

func (f *figure) addLegend(name string, thumbs ...plot.Thumbnailer) {
	f.legend = append(f.legend, legendEntry{name, thumbs})
}

// The size of a chart: about the width a README shows (GitHub shows an
// image at most about 830 pixels wide, and 9 inches are 864), and a margin
// that keeps the text off the edge.
const (
	chartWidth  = 9 * vg.Inch
	chartHeight = 4.5 * vg.Inch // the plot's, the legend's comes on top
	chartMargin = vg.Length(6)  // points
)

// draw renders the charts named in only (every chart if none) from the
// data in dir into out. It refuses to write an SVG chart whose text would
// be cut or cluttered (fitSVG).
func draw(dir, out, format string, only ...string) error {
	for _, c := range charts {
		if len(only) > 0 && !slices.Contains(only, c.name) {
			continue
		}
		var cw vg.CanvasWriterTo
		if c.canvas != nil {
			var err error
			if cw, err = c.canvas(dir, format); err != nil {
				return fmt.Errorf("figures: %s: %w", c.name, err)
			}
		} else {
			stamp, err := readStamp(dir, c.name)
			if err != nil {
				return err
			}
			f, err := c.plot(dir, stamp)
			if err != nil {
				return fmt.Errorf("figures: %s: %w", c.name, err)
			}
			if cw, err = f.render(format); err != nil {
				return fmt.Errorf("figures: %s: %w", c.name, err)
			}
		}
		path := filepath.Join(out, c.name+"."+format)
		if err := writeChart(cw, format, path); err != nil {
			return fmt.Errorf("figures: %s: %w", c.name, err)
		}
		fmt.Fprintln(os.Stderr, "figures: wrote", path)
	}
	return nil
}

// writeChart writes cw to path, if it is an SVG only once fitSVG finds
// nothing cut or cluttered in it.
func writeChart(cw vg.CanvasWriterTo, format, path string) error {
	var b bytes.Buffer
	if _, err := cw.WriteTo(&b); err != nil {
		return err
	}
	if format == "svg" {
		problems, err := fitSVG(b.Bytes())
		if err != nil {
			return err
		}
		if len(problems) > 0 {
			return fmt.Errorf("not written: a reader would see its text cut or cluttered:\n\t%s", strings.Join(problems, "\n\t"))
		}
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}

// render draws f at chartWidth: the plot, and under it the legend in as
// many columns as fit, each column as wide as the widest entry.
func (f figure) render(format string) (vg.CanvasWriterTo, error) {
	const gap = vg.Length(18) // points between legend columns
	proto := newLegend()
	var colW vg.Length
	for _, e := range f.legend {
		colW = max(colW, proto.ThumbnailWidth+proto.TextStyle.Width(" "+e.name))
	}
	var columns []plot.Legend
	if n := len(f.legend); n > 0 {
		cols := max(1, min(n, int((chartWidth-2*chartMargin+gap)/(colW+gap))))
		rows := (n + cols - 1) / cols
		// Down the columns, so that what goes together (a client's lines)
		// stays together.
		for i, e := range f.legend {
			if i%rows == 0 {
				columns = append(columns, newLegend())
			}
			columns[len(columns)-1].Add(e.name, e.thumbs...)
		}
	}
	var legendH vg.Length
	for i := range columns {
		legendH = max(legendH, legendHeight(&columns[i])+chartMargin)
	}
	cw, err := vgdraw.NewFormattedCanvas(chartWidth, chartHeight+legendH, format)
	if err != nil {
		return nil, err
	}
	dc := vgdraw.New(cw)
	plotC := vgdraw.Crop(dc, chartMargin, -chartMargin, chartMargin+legendH, -chartMargin)
	if label := f.plot.Y.Label; label.Text != "" {
		// gonum/plot leaves room for its y label where the middle of the
		// linear range falls, above the middle of a log-scale plot, and
		// shrinks the plot by as much: the label is drawn here instead,
		// as gonum/plot draws it but by the middle of the data.
		f.plot.Y.Label.Text = ""
		defer func() { f.plot.Y.Label.Text = label.Text }()
		h, descent := label.TextStyle.Height(label.Text), label.TextStyle.FontExtents().Descent
		sty := label.TextStyle
		sty.Rotation += math.Pi / 2
		inner := vgdraw.Crop(plotC, h+descent+label.Padding, 0, 0, 0)
		data := f.plot.DataCanvas(inner)
		plotC.FillText(sty, vg.Point{X: plotC.Min.X + h - descent, Y: data.Center().Y}, label.Text)
		plotC = inner
	}
	f.plot.Draw(plotC)
	n := vg.Length(len(columns))
	left := (chartWidth - n*colW - (n-1)*gap) / 2
	for i := range columns {
		x := left + vg.Length(i)*(colW+gap)
		columns[i].Draw(vgdraw.Crop(dc, x, x+colW-chartWidth, chartMargin, legendH-dc.Max.Y))
	}
	return cw, nil
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

// newPlot is a plot with a title and the stamp under it, each line of them
// wrapped to the width of the chart, and axis labels; its text is laid out
// for any font a reader's renderer may draw it in (wideText).
func newPlot(title, stamp, x, y string) *plot.Plot {
	p := plot.New()
	useWideText(p)
	head := fitText(append(strings.Split(title, "\n"), stamp), plotFont(10), chartWidth-2*chartMargin)
	p.Title.Text = strings.Join(head.lines, "\n")
	p.Title.TextStyle.Font.Size = vg.Points(10)
	p.Title.Padding = vg.Points(4)
	p.X.Label.Text, p.Y.Label.Text = x, y
	p.Add(plotter.NewGrid())
	return p
}

// throttlingBin is the throttling chart's bin, in seconds. The origin
// answers 429 with Retry-After: 1, and go-retryablehttp's workers, which
// honour it, wait it out together and send in a burst each second: bins of
// a second hold one burst each and show the rate it keeps, where narrower
// ones alternate between a burst and none.
const throttlingBin = 1.0

func throttlingChart(dir, stamp string) (figure, error) {
	var d figures.Throttling
	if err := figures.Load(dir, "throttling", &d); err != nil {
		return figure{}, err
	}
	p := newPlot(fmt.Sprintf("Throttling: requests per second at an origin that admits %.0f/s (bucket of %.0f); %d calls, 10 workers", d.Limit, d.Burst, d.Calls),
		stamp, fmt.Sprintf("seconds since the start (each point the middle of its %g s bin)", throttlingBin),
		fmt.Sprintf("requests per second (%g s bins)", throttlingBin))
	f := figure{plot: p}
	end := 0.0
	for _, c := range d.Clients {
		for _, s := range c.Sent {
			end = max(end, s)
		}
	}
	bins := int(end/throttlingBin) + 1
	for i, c := range d.Clients {
		sent, throttled := make([]float64, bins), make([]float64, bins)
		for j, s := range c.Sent {
			sent[int(s/throttlingBin)] += 1 / throttlingBin
			if c.Status[j] == 429 {
				throttled[int(s/throttlingBin)] += 1 / throttlingBin
			}
		}
		for _, series := range []struct {
			name string
			v    []float64
		}{{"sent", sent}, {"answered 429", throttled}} {
			xy := make(plotter.XYs, len(series.v))
			for b, v := range series.v {
				xy[b] = plotter.XY{X: (float64(b) + 0.5) * throttlingBin, Y: v}
			}
			l, err := plotter.NewLine(xy)
			if err != nil {
				return figure{}, err
			}
			l.Color = plotutil.Color(i)
			l.Width = vg.Points(1.5)
			if series.name != "sent" {
				l.Dashes = []vg.Length{vg.Points(2), vg.Points(2)}
				l.Width = vg.Points(1)
			}
			p.Add(l)
			f.addLegend(c.Client+", "+series.name, l)
		}
	}
	limit, err := plotter.NewLine(plotter.XYs{{X: 0, Y: d.Limit}, {X: float64(bins) * throttlingBin, Y: d.Limit}})
	if err != nil {
		return figure{}, err
	}
	limit.Color, limit.Dashes = color.Gray{Y: 80}, []vg.Length{vg.Points(6), vg.Points(3)}
	p.Add(limit)
	f.addLegend("the origin's limit", limit)
	p.X.Min, p.X.Max, p.Y.Min = 0, float64(bins)*throttlingBin, 0
	p.X.Tick.Marker = steps(throttlingBin, 2, "%.0f")
	p.Y.Tick.Marker = steps(5, 10, "%.0f")
	return f, nil
}

func amplificationChart(dir, stamp string) (figure, error) {
	var d []figures.Amplified
	if err := figures.Load(dir, "amplification", &d); err != nil {
		return figure{}, err
	}
	p := newPlot("Outage amplification: requests a server answering 503 saw per call (1,000 calls, 3 retries)",
		stamp, "", "requests ÷ calls")
	vals, names := make(plotter.Values, len(d)), make([][]string, len(d))
	for i, a := range d {
		vals[i], names[i] = a.Ratio, []string{a.Client, fmt.Sprintf("%.2f", a.Ratio)}
	}
	return figure{plot: p}, addBars(p, vals, names, 0)
}

// addBars draws vals as bars in the plotutil colour numbered color, from 0
// up, each named under the axis by the paragraphs of its names, wrapped to
// the room between bars.
func addBars(p *plot.Plot, vals plotter.Values, names [][]string, color int) error {
	bars, err := plotter.NewBarChart(vals, vg.Points(30))
	if err != nil {
		return err
	}
	bars.Color = plotutil.Color(color)
	p.Add(bars)
	// The room between bars: the chart less its margins and the y axis
	// (about 50 points), less a gap between neighbours.
	room := (chartWidth-2*chartMargin-vg.Points(50))/vg.Length(len(names)) - vg.Points(8)
	labels := make([]string, len(names))
	for i, n := range names {
		labels[i] = strings.Join(fitText(n, p.X.Tick.Label.Font, room).lines, "\n")
	}
	p.NominalX(labels...)
	p.Y.Min = 0
	return nil
}

func replayChart(dir, stamp string) (figure, error) {
	var d []figures.Replayed
	if err := figures.Load(dir, "replay", &d); err != nil {
		return figure{}, err
	}
	p := newPlot("Body replay: peak heap for a PUT from a plain reader, answered 503 then 200",
		stamp, "body size (MiB)", "peak live heap (MiB)")
	p.X.Scale, p.Y.Scale = plot.LogScale{}, plot.LogScale{}
	p.X.Tick.Marker, p.Y.Tick.Marker = plot.LogTicks{Prec: -1}, plot.LogTicks{Prec: -1}
	f := figure{plot: p}
	for i, r := range d {
		xy := make(plotter.XYs, len(r.SizeMiB))
		for j := range r.SizeMiB {
			xy[j] = plotter.XY{X: r.SizeMiB[j], Y: math.Max(r.PeakMiB[j], 0.01)}
		}
		l, pts, err := plotter.NewLinePoints(xy)
		if err != nil {
			return figure{}, err
		}
		l.Color, pts.Color = plotutil.Color(i), plotutil.Color(i)
		pts.Shape = plotutil.Shape(i)
		p.Add(l, pts)
		f.addLegend(r.Client, l, pts)
	}
	return f, nil
}

func overheadChart(dir, stamp string) (figure, error) {
	var d []figures.Overhead
	if err := figures.Load(dir, "overhead", &d); err != nil {
		return figure{}, err
	}
	runs := 0
	if len(d) > 0 {
		runs = d[0].Runs
	}
	p := newPlot(fmt.Sprintf("Overhead: a bodiless GET over a canned base (no network), median of %d runs;\nallocs/op under each name (the canned response is 1)", runs),
		stamp, "", "ns per call")
	vals, names := make(plotter.Values, len(d)), make([][]string, len(d))
	for i, o := range d {
		vals[i] = o.NsOp
		names[i] = append(strings.SplitAfter(strings.ReplaceAll(o.Client, "_", " "), "/"),
			fmt.Sprintf("%.0f ns", o.NsOp), fmt.Sprintf("%.0f allocs", o.AllocsOp))
	}
	return figure{plot: p}, addBars(p, vals, names, 1)
}

func hedgingChart(dir, stamp string) (figure, error) {
	var d []figures.Hedged
	if err := figures.Load(dir, "hedging", &d); err != nil {
		return figure{}, err
	}
	p := newPlot("Hedging: share of calls slower than a latency; a server taking 1 ms, 300 ms one time in 20 (2,000 GETs)",
		stamp, "latency (ms)", "share of calls slower")
	p.X.Scale, p.Y.Scale = plot.LogScale{}, plot.LogScale{}
	p.X.Tick.Marker, p.Y.Tick.Marker = plot.LogTicks{Prec: -1}, plot.LogTicks{Prec: -1}
	f := figure{plot: p}
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
			return figure{}, err
		}
		l.Color = plotutil.Color(i)
		l.Width = vg.Points(1.5)
		l.Dashes = plotutil.Dashes(i)
		p.Add(l)
		f.addLegend(fmt.Sprintf("%s (+%.1f%% requests)", h.Client, 100*h.ExtraShare), l)
	}
	return f, nil
}
