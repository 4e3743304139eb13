package main

import (
	"fmt"
	"image/color"
	"math"
	"slices"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	vgdraw "gonum.org/v1/plot/vg/draw"

	"github.com/rtchain/rtchain/bench/figures"
)

// overloadLoads are the overload factors the chart shows, one column each.
var overloadLoads = []float64{3, 10}

// tileWidth bounds a tile's title: about half the canvas, less the axis.
const tileWidth = 4 * vg.Inch

// overloadClientOrder gives each client the same colour in every tile.
var overloadClientOrder = []string{"bare", "rtchain NewClient", "failsafehttp", "failsafehttp, documented", "go-retryablehttp"}

// overloadChart draws the overload workload's goodput over time: a tile
// per server (rows) and overload factor (columns), a line per client, with
// the most that could be served and the end of the overload marked. Its
// stamp is the run's own (the data says when, where and at which commit).
func overloadChart(dir, format string) (vg.CanvasWriterTo, error) {
	var d figures.Overload
	if err := figures.Load(dir, "overload", &d); err != nil {
		return nil, err
	}
	if len(d.Phases) == 0 || d.BinMs <= 0 || d.ServiceMs <= 0 {
		return nil, fmt.Errorf("no workload in the data")
	}
	capacity := float64(d.Slots) * 1000 / d.ServiceMs
	var servers []string
	for _, r := range d.Rows {
		if !slices.Contains(servers, r.Server) {
			servers = append(servers, r.Server)
		}
	}
	if len(servers) == 0 {
		return nil, fmt.Errorf("no rows in the data")
	}
	clients := slices.Clone(overloadClientOrder)
	for _, r := range d.Rows {
		if !slices.Contains(clients, r.Client) {
			clients = append(clients, r.Client)
		}
	}

	const width = 10 * vg.Inch
	tileH := 1.9 * vg.Inch
	header := fitText(overloadTitle(d, capacity), plotFont(11), width-vg.Points(60))
	stamp := fitText([]string{overloadStamp(d)}, plotFont(9), width-vg.Points(60))
	headerH := textHeight(header) + textHeight(stamp) + vg.Points(8)

	// The legend: the clients on the left, the reference lines on the right.
	lines := map[string]vgdraw.LineStyle{}
	left, right := newLegend(), newLegend()
	for i, c := range clients {
		lines[c] = vgdraw.LineStyle{Color: plotutil.Color(i), Width: vg.Points(1.5), Dashes: plotutil.Dashes(i)}
		if overloadHasClient(d, c) {
			left.Add(c, legendLine(lines[c]))
		}
	}
	ideal := vgdraw.LineStyle{Color: color.Gray{Y: 90}, Width: vg.Points(1), Dashes: []vg.Length{vg.Points(5), vg.Points(3)}}
	end := vgdraw.LineStyle{Color: color.RGBA{R: 200, A: 255}, Width: vg.Points(1), Dashes: []vg.Length{vg.Points(1), vg.Points(2)}}
	right.Add(fmt.Sprintf("the most that could be served: min(offered, capacity %.0f/s)", capacity), legendLine(ideal))
	right.Add(fmt.Sprintf("end of the overload (%.0f s)", d.Phases[0].Seconds), legendLine(end))
	legendH := max(legendHeight(&left), legendHeight(&right)) + vg.Points(8)

	height := headerH + legendH + vg.Length(len(servers))*tileH
	cw, err := vgdraw.NewFormattedCanvas(width, height, format)
	if err != nil {
		return nil, err
	}
	dc := vgdraw.New(cw)

	y := dc.Max.Y - vg.Points(4)
	for _, block := range []textBlock{header, stamp} {
		for _, line := range block.lines {
			dc.FillText(block.style, vg.Point{X: dc.Center().X, Y: y}, line)
			y -= block.style.Height(line)
		}
	}
	legendTop := y - vg.Points(4)
	left.Draw(vgdraw.Crop(dc, vg.Points(60), 0, 0, legendTop-dc.Max.Y))
	right.Draw(vgdraw.Crop(dc, width/2, 0, 0, legendTop-dc.Max.Y))

	// The tiles.
	plots := make([][]*plot.Plot, len(servers))
	for i, server := range servers {
		plots[i] = make([]*plot.Plot, len(overloadLoads))
		for j, load := range overloadLoads {
			p, err := overloadTile(d, server, load, capacity, lines, ideal, end)
			if err != nil {
				return nil, err
			}
			plots[i][j] = p
		}
		// Titles of a row as many lines high, the shorter ones pushed down
		// to their plot: plot.Align lays out rows whose titles differ in
		// height past the top of its canvas.
		most := 0
		for _, p := range plots[i] {
			most = max(most, strings.Count(p.Title.Text, "\n"))
		}
		for _, p := range plots[i] {
			p.Title.Text = strings.Repeat("\n", most-strings.Count(p.Title.Text, "\n")) + p.Title.Text
		}
	}
	tiles := vgdraw.Tiles{Rows: len(servers), Cols: len(overloadLoads), PadX: vg.Points(12), PadY: vg.Points(8),
		PadLeft: vg.Points(4), PadRight: vg.Points(12), PadBottom: vg.Points(4)}
	area := vgdraw.Crop(dc, 0, 0, 0, legendTop-legendH-dc.Max.Y)
	canvases := plot.Align(plots, tiles, area)
	for i := range plots {
		for j := range plots[i] {
			plots[i][j].Draw(canvases[i][j])
		}
	}
	return cw, nil
}

// overloadTile is one server at one overload factor: goodput over time,
// a line per client.
func overloadTile(d figures.Overload, server string, load, capacity float64, lines map[string]vgdraw.LineStyle, ideal, end vgdraw.LineStyle) (*plot.Plot, error) {
	p := plot.New()
	useWideText(p)
	p.Title.Text = fmt.Sprintf("%s, offered %g× capacity", server, load)
	var behind []string
	for _, r := range d.Rows {
		if r.Server == server && r.Load == load && r.LagP99Ms > 0.1*d.DeadlineMs {
			behind = append(behind, fmt.Sprintf("%s %.0f ms", r.Client, r.LagP99Ms))
		}
	}
	if len(behind) > 0 {
		note := fitText([]string{"the load generator fell behind (p99 lag): " + strings.Join(behind, ", ")},
			p.Title.TextStyle.Font, tileWidth)
		p.Title.Text += "\n" + strings.Join(note.lines, "\n")
	}
	p.Title.TextStyle.Font.Size = vg.Points(10)
	p.X.Label.Text, p.Y.Label.Text = "seconds since the start", "served in time /s"
	p.X.Label.TextStyle.Font.Size, p.Y.Label.TextStyle.Font.Size = vg.Points(9), vg.Points(9)
	p.X.Tick.Label.Font.Size, p.Y.Tick.Label.Font.Size = vg.Points(8), vg.Points(8)
	p.Add(plotter.NewGrid())
	bin := d.BinMs / 1000

	// min(offered, capacity), phase by phase, and the end of the overload.
	var most plotter.XYs
	at := 0.0
	for i, ph := range d.Phases {
		l := ph.Load
		if i == 0 {
			l = load
		}
		v := min(l, 1) * capacity
		most = append(most, plotter.XY{X: at, Y: v}, plotter.XY{X: at + ph.Seconds, Y: v})
		at += ph.Seconds
	}
	top := capacity * 1.25
	for _, ref := range []struct {
		xy    plotter.XYs
		style vgdraw.LineStyle
	}{{most, ideal}, {plotter.XYs{{X: d.Phases[0].Seconds, Y: 0}, {X: d.Phases[0].Seconds, Y: top}}, end}} {
		l, err := plotter.NewLine(ref.xy)
		if err != nil {
			return nil, err
		}
		l.LineStyle = ref.style
		p.Add(l)
	}
	for _, r := range d.Rows {
		if r.Server != server || r.Load != load {
			continue
		}
		xy := make(plotter.XYs, len(r.ServedByEnd))
		for b, n := range r.ServedByEnd {
			xy[b] = plotter.XY{X: (float64(b) + 0.5) * bin, Y: float64(n) / bin}
		}
		l, err := plotter.NewLine(xy)
		if err != nil {
			return nil, err
		}
		l.LineStyle = lines[r.Client]
		p.Add(l)
	}
	p.X.Min, p.X.Max = 0, at+d.DeadlineMs/1000
	p.Y.Min, p.Y.Max = 0, top
	p.X.Tick.Marker = steps(0.5, 1, "%.0f")
	p.Y.Tick.Marker = steps(capacity/4, capacity/2, "%.0f")
	return p, nil
}

func overloadHasClient(d figures.Overload, client string) bool {
	return slices.ContainsFunc(d.Rows, func(r figures.OverloadRow) bool { return r.Client == client })
}

func overloadTitle(d figures.Overload, capacity float64) []string {
	var after []string
	for _, ph := range d.Phases[1:] {
		after = append(after, fmt.Sprintf("%g× for %g s", ph.Load, ph.Seconds))
	}
	return []string{fmt.Sprintf("Overload: calls served in time per second (%.0f ms bins) by a service of %d slots × %.0f ms (capacity %.0f/s), offered the load of each column for %g s by open-loop callers with %.0f ms deadlines, then %s",
		d.BinMs, d.Slots, d.ServiceMs, capacity, d.Phases[0].Seconds, d.DeadlineMs, strings.Join(after, ", "))}
}

func overloadStamp(d figures.Overload) string {
	when := d.Measured
	if t, err := time.Parse(time.RFC3339, d.Measured); err == nil {
		when = t.Format("2006-01-02 15:04 MST")
	}
	return fmt.Sprintf("measured %s, %s, rtchain %s; cd bench && go run ./cmd/figures -only overload", when, d.Machine, d.Commit)
}

// textBlock is text wrapped to a width, in one style, centred under the
// top.
type textBlock struct {
	style text.Style
	lines []string
}

// fitText wraps each paragraph at spaces so that no line is wider than
// width.
func fitText(paragraphs []string, f font.Font, width vg.Length) textBlock {
	b := textBlock{style: text.Style{Color: color.Black, Font: f, Handler: wideHandler,
		XAlign: vgdraw.XCenter, YAlign: vgdraw.YTop}}
	for _, para := range paragraphs {
		line := ""
		for word := range strings.FieldsSeq(para) {
			next := strings.TrimSpace(line + " " + word)
			if line != "" && b.style.Width(next) > width {
				b.lines = append(b.lines, line)
				next = word
			}
			line = next
		}
		b.lines = append(b.lines, line)
	}
	return b
}

func textHeight(b textBlock) vg.Length {
	var h vg.Length
	for _, l := range b.lines {
		h += b.style.Height(l)
	}
	return h
}

// legendLine is a legend's thumbnail of a line style.
type legendLine vgdraw.LineStyle

func (l legendLine) Thumbnail(c *vgdraw.Canvas) {
	y := c.Center().Y
	c.StrokeLine2(vgdraw.LineStyle(l), c.Min.X, y, c.Max.X, y)
}

// steps is a ticker with a tick every minor, labelled every major.
func steps(minor, major float64, format string) plot.Ticker {
	return plot.TickerFunc(func(lo, hi float64) []plot.Tick {
		var ticks []plot.Tick
		for i := math.Ceil(lo / minor); i*minor <= hi+1e-9; i++ {
			v, label := i*minor, ""
			if r := math.Mod(v, major); math.Abs(r) < 1e-9 || math.Abs(r-major) < 1e-9 {
				label = fmt.Sprintf(format, v)
			}
			ticks = append(ticks, plot.Tick{Value: v, Label: label})
		}
		return ticks
	})
}
