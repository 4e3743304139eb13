package main

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"gonum.org/v1/plot/vg"
)

// fitSVG reads a chart as gonum/plot writes it in SVG and reports each text
// a reader would see cut or cluttered: one reaching past the canvas (the
// viewBox), one crossing a drawn line or a filled shape, as a legend laid
// over the data does (over the grid too, which spans the plot area), or
// two texts overlapping.
// A text's room is its width in the widest font a renderer may draw it in
// (wideText), and from its baseline up and down as far as the ink of any
// of those fonts reaches (inkAscent, inkDescent). It knows the SVG gonum/plot writes: absolute path
// commands, the transforms matrix, translate, scale and rotate, text in
// Liberation Serif; anything else is an error rather than a guess.
func fitSVG(b []byte) ([]string, error) {
	var (
		canvas   rect
		haveSize bool
		stack    = []affine{identity}
		texts    []placedText
		marks    []mark
	)
	dec := xml.NewDecoder(bytes.NewReader(b))
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			m, err := parseTransform(attr(t, "transform"))
			if err != nil {
				return nil, err
			}
			ctm := stack[len(stack)-1].times(m)
			stack = append(stack, ctm)
			switch t.Name.Local {
			case "svg":
				canvas, err = parseViewBox(attr(t, "viewBox"))
				if err != nil {
					return nil, err
				}
				haveSize = true
			case "text":
				var s string
				if err := dec.DecodeElement(&s, &t); err != nil {
					return nil, err
				}
				stack = stack[:len(stack)-1] // DecodeElement consumed the end
				pt, err := placeText(t, s, ctm)
				if err != nil {
					return nil, err
				}
				texts = append(texts, pt)
			case "path":
				ms, err := parsePath(attr(t, "d"), attr(t, "style"), ctm)
				if err != nil {
					return nil, err
				}
				marks = append(marks, ms...)
			}
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		}
	}
	if !haveSize {
		return nil, errors.New("figures: no <svg> with a viewBox")
	}
	var problems []string
	for i, t := range texts {
		for _, u := range texts[:i] {
			// Lines of one text are set a font size apart, a little less
			// than the height of their ink: a text may share half a
			// point with another.
			if t.box.inset(textSlack).overlaps(u.box.inset(textSlack)) {
				problems = append(problems, fmt.Sprintf("%q (%v) overlaps %q (%v)", t.text, t.box, u.text, u.box))
			}
		}
		if !canvas.contains(t.box) {
			problems = append(problems, fmt.Sprintf("%q reaches past the canvas: it spans %v, the canvas %v", t.text, t.box, canvas))
		}
		for _, m := range marks {
			if m.crosses(t.box) {
				problems = append(problems, fmt.Sprintf("%q (%v) crosses a drawn %s", t.text, t.box, m))
				break
			}
		}
	}
	return problems, nil
}

func attr(e xml.StartElement, name string) string {
	for _, a := range e.Attr {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

// rect is an upright rectangle in the canvas' coordinates.
type rect struct{ x0, y0, x1, y1 float64 }

func (r rect) String() string {
	return fmt.Sprintf("x %.1f–%.1f, y %.1f–%.1f", r.x0, r.x1, r.y0, r.y1)
}

// fitSlack is how far, in points, a text may touch what it sits against:
// numbers in SVG are rounded to five significant digits.
const fitSlack = 0.05

// textSlack is how far, in points, two texts may overlap (see fitSVG).
const textSlack = 0.5

func (r rect) contains(in rect) bool {
	return in.x0 >= r.x0-fitSlack && in.y0 >= r.y0-fitSlack && in.x1 <= r.x1+fitSlack && in.y1 <= r.y1+fitSlack
}

// inset is r less d on every side.
func (r rect) inset(d float64) rect { return rect{r.x0 + d, r.y0 + d, r.x1 - d, r.y1 - d} }

func (r rect) overlaps(o rect) bool {
	return r.x0 < o.x1 && o.x0 < r.x1 && r.y0 < o.y1 && o.y0 < r.y1
}

func parseViewBox(s string) (rect, error) {
	f := strings.Fields(strings.ReplaceAll(s, ",", " "))
	if len(f) != 4 {
		return rect{}, fmt.Errorf("figures: viewBox %q", s)
	}
	var v [4]float64
	for i := range f {
		var err error
		if v[i], err = strconv.ParseFloat(f[i], 64); err != nil {
			return rect{}, fmt.Errorf("figures: viewBox %q: %w", s, err)
		}
	}
	return rect{v[0], v[1], v[0] + v[2], v[1] + v[3]}, nil
}

// affine is the SVG matrix(a b c d e f): x' = a x + c y + e, y' = b x + d y + f.
type affine struct{ a, b, c, d, e, f float64 }

var identity = affine{a: 1, d: 1}

// times is m applied after n: (m × n)(p) = m(n(p)).
func (m affine) times(n affine) affine {
	return affine{
		a: m.a*n.a + m.c*n.b, b: m.b*n.a + m.d*n.b,
		c: m.a*n.c + m.c*n.d, d: m.b*n.c + m.d*n.d,
		e: m.a*n.e + m.c*n.f + m.e, f: m.b*n.e + m.d*n.f + m.f,
	}
}

func (m affine) apply(x, y float64) (float64, float64) {
	return m.a*x + m.c*y + m.e, m.b*x + m.d*y + m.f
}

// box is the upright rectangle around r once m has moved it.
func (m affine) box(r rect) rect {
	out := rect{math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)}
	for _, p := range [][2]float64{{r.x0, r.y0}, {r.x1, r.y0}, {r.x0, r.y1}, {r.x1, r.y1}} {
		x, y := m.apply(p[0], p[1])
		out = rect{min(out.x0, x), min(out.y0, y), max(out.x1, x), max(out.y1, y)}
	}
	return out
}

// parseTransform reads an SVG transform list; the empty list is identity.
func parseTransform(s string) (affine, error) {
	m := identity
	rest := strings.TrimSpace(s)
	for rest != "" {
		name, after, ok := strings.Cut(rest, "(")
		args, tail, ok2 := strings.Cut(after, ")")
		if !ok || !ok2 {
			return m, fmt.Errorf("figures: transform %q", s)
		}
		rest = strings.TrimLeft(tail, " ,\t\n")
		var v []float64
		for f := range strings.FieldsFuncSeq(args, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' }) {
			x, err := strconv.ParseFloat(f, 64)
			if err != nil {
				return m, fmt.Errorf("figures: transform %q: %w", s, err)
			}
			v = append(v, x)
		}
		var t affine
		switch n := strings.TrimSpace(name); {
		case n == "matrix" && len(v) == 6:
			t = affine{v[0], v[1], v[2], v[3], v[4], v[5]}
		case n == "translate" && (len(v) == 1 || len(v) == 2):
			t = identity
			t.e = v[0]
			if len(v) == 2 {
				t.f = v[1]
			}
		case n == "scale" && (len(v) == 1 || len(v) == 2):
			t = affine{a: v[0], d: v[0]}
			if len(v) == 2 {
				t.d = v[1]
			}
		case n == "rotate" && (len(v) == 1 || len(v) == 3):
			sin, cos := math.Sincos(v[0] * math.Pi / 180)
			t = affine{a: cos, b: sin, c: -sin, d: cos}
			if len(v) == 3 {
				t = affine{a: 1, d: 1, e: v[1], f: v[2]}.times(t).times(affine{a: 1, d: 1, e: -v[1], f: -v[2]})
			}
		default:
			return m, fmt.Errorf("figures: transform %q: %s with %d numbers", s, n, len(v))
		}
		m = m.times(t)
	}
	return m, nil
}

// placedText is a text and the canvas' rectangle it may take.
type placedText struct {
	text string
	box  rect
}

func placeText(e xml.StartElement, s string, ctm affine) (placedText, error) {
	x, errX := strconv.ParseFloat(attr(e, "x"), 64)
	y, errY := strconv.ParseFloat(attr(e, "y"), 64)
	if err := errors.Join(errX, errY); err != nil {
		return placedText{}, fmt.Errorf("figures: text %q: %w", s, err)
	}
	props := map[string]string{}
	for p := range strings.SplitSeq(attr(e, "style"), ";") {
		if k, v, ok := strings.Cut(p, ":"); ok {
			props[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	if fam := strings.Trim(props["font-family"], `"'`); fam != "Liberation Serif" ||
		props["font-weight"] != "normal" || props["font-style"] != "normal" {
		return placedText{}, fmt.Errorf("figures: text %q: font %q %s %s: only regular Liberation Serif is measured",
			s, fam, props["font-weight"], props["font-style"])
	}
	px, ok := strings.CutSuffix(props["font-size"], "px")
	size, err := strconv.ParseFloat(px, 64)
	if !ok || err != nil {
		return placedText{}, fmt.Errorf("figures: text %q: font-size %q", s, props["font-size"])
	}
	w := wideHandler.width(s, plotFont(vg.Points(size))).Points()
	// In the text's own coordinates y runs down and the glyphs rise from
	// the baseline at y.
	local := rect{x, y - inkAscent*size, x + w, y + inkDescent*size}
	return placedText{text: s, box: ctm.box(local)}, nil
}

// mark is what a path draws that a text must keep off: its stroked
// segments, or the rectangle around a filled shape or an arc.
type mark struct {
	segment    bool
	x0, y0     float64
	x1, y1     float64
	what       string
	solidRange rect
}

func (m mark) String() string {
	if m.segment {
		return fmt.Sprintf("%s from (%.1f, %.1f) to (%.1f, %.1f)", m.what, m.x0, m.y0, m.x1, m.y1)
	}
	return fmt.Sprintf("%s over %v", m.what, m.solidRange)
}

// crosses reports whether the mark touches the inside of r, less fitSlack
// on every side.
func (m mark) crosses(r rect) bool {
	r = r.inset(fitSlack)
	if !m.segment {
		return m.solidRange.overlaps(r)
	}
	return segmentCrosses(m.x0, m.y0, m.x1, m.y1, r)
}

// segmentCrosses reports whether the segment from (x0, y0) to (x1, y1)
// passes through the inside of r (Liang–Barsky clipping).
func segmentCrosses(x0, y0, x1, y1 float64, r rect) bool {
	dx, dy := x1-x0, y1-y0
	lo, hi := 0.0, 1.0
	for _, c := range [][2]float64{{-dx, x0 - r.x0}, {dx, r.x1 - x0}, {-dy, y0 - r.y0}, {dy, r.y1 - y0}} {
		p, q := c[0], c[1]
		if p == 0 {
			if q <= 0 {
				return false
			}
			continue
		}
		t := q / p
		if p < 0 {
			lo = max(lo, t)
		} else {
			hi = min(hi, t)
		}
		if lo >= hi {
			return false
		}
	}
	return true
}

// parsePath turns a path into the marks it draws: a path filled white is
// a background and draws none; a stroked one draws its segments; one
// filled in colour, the rectangle around it.
func parsePath(d, style string, ctm affine) ([]mark, error) {
	fill, stroke := "#000000", "none" // SVG's initial values
	for p := range strings.SplitSeq(style, ";") {
		k, v, _ := strings.Cut(p, ":")
		switch strings.TrimSpace(k) {
		case "fill":
			fill = strings.TrimSpace(v)
		case "stroke":
			stroke = strings.TrimSpace(v)
		}
	}
	filled := fill != "none" && !strings.EqualFold(fill, "#FFFFFF") && !strings.EqualFold(fill, "white")
	stroked := stroke != "none"
	if !filled && !stroked {
		return nil, nil
	}
	var (
		marks          []mark
		x, y, sx, sy   float64
		bounds         = rect{math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)}
		toks           = pathTokens(d)
		cmd            byte
		what           = "line"
		segment, solid = stroked, filled
	)
	if filled {
		what = "shape"
	}
	grow := func(px, py float64) {
		bounds = rect{min(bounds.x0, px), min(bounds.y0, py), max(bounds.x1, px), max(bounds.y1, py)}
	}
	line := func(nx, ny float64) {
		if segment {
			ax, ay := ctm.apply(x, y)
			bx, by := ctm.apply(nx, ny)
			marks = append(marks, mark{segment: true, x0: ax, y0: ay, x1: bx, y1: by, what: what})
		}
		x, y = nx, ny
		grow(ctm.apply(x, y))
	}
	nums := func(n int) ([]float64, error) {
		if len(toks) < n {
			return nil, fmt.Errorf("figures: path %q: %c wants %d numbers", d, cmd, n)
		}
		v := make([]float64, n)
		for i := range n {
			var err error
			if v[i], err = strconv.ParseFloat(toks[i], 64); err != nil {
				return nil, fmt.Errorf("figures: path %q: %w", d, err)
			}
		}
		toks = toks[n:]
		return v, nil
	}
	for len(toks) > 0 {
		if c := toks[0][0]; len(toks[0]) == 1 && (c < '0' || c > '9') && c != '-' && c != '.' && c != '+' {
			cmd = c
			toks = toks[1:]
		} else if cmd == 0 || cmd == 'Z' {
			return nil, fmt.Errorf("figures: path %q: numbers with no command", d)
		}
		switch cmd {
		case 'M':
			v, err := nums(2)
			if err != nil {
				return nil, err
			}
			x, y, sx, sy = v[0], v[1], v[0], v[1]
			grow(ctm.apply(x, y))
			cmd = 'L' // further pairs are lines
		case 'L':
			v, err := nums(2)
			if err != nil {
				return nil, err
			}
			line(v[0], v[1])
		case 'H':
			v, err := nums(1)
			if err != nil {
				return nil, err
			}
			line(v[0], y)
		case 'V':
			v, err := nums(1)
			if err != nil {
				return nil, err
			}
			line(x, v[0])
		case 'Z':
			line(sx, sy)
		case 'A', 'Q', 'C':
			n := map[byte]int{'A': 7, 'Q': 4, 'C': 6}[cmd]
			v, err := nums(n)
			if err != nil {
				return nil, err
			}
			// The curve stays within the rectangle around its ends and
			// control points; an arc, within its radius of its ends.
			r := rect{min(x, v[n-2]), min(y, v[n-1]), max(x, v[n-2]), max(y, v[n-1])}
			if cmd == 'A' {
				rad := max(v[0], v[1])
				r = rect{r.x0 - rad, r.y0 - rad, r.x1 + rad, r.y1 + rad}
			} else {
				for i := 0; i+1 < n-2; i += 2 {
					r = rect{min(r.x0, v[i]), min(r.y0, v[i+1]), max(r.x1, v[i]), max(r.y1, v[i+1])}
				}
			}
			box := ctm.box(r)
			marks = append(marks, mark{what: "curve", solidRange: box})
			grow(box.x0, box.y0)
			grow(box.x1, box.y1)
			x, y = v[n-2], v[n-1]
		default:
			return nil, fmt.Errorf("figures: path %q: command %c", d, cmd)
		}
	}
	if solid && bounds.x0 <= bounds.x1 {
		marks = append(marks, mark{what: "shape", solidRange: bounds})
	}
	return marks, nil
}

// pathTokens splits path data into commands and numbers.
func pathTokens(d string) []string {
	var toks []string
	num := func(i int) int { // the end of the number starting at i
		j := i
		if d[j] == '-' || d[j] == '+' {
			j++
		}
		for j < len(d) && (d[j] >= '0' && d[j] <= '9' || d[j] == '.' || d[j] == 'e' ||
			(d[j] == '-' || d[j] == '+') && (d[j-1] == 'e')) {
			j++
		}
		return j
	}
	for i := 0; i < len(d); {
		switch c := d[i]; {
		case c == ' ' || c == ',' || c == '\t' || c == '\n':
			i++
		case c >= '0' && c <= '9' || c == '-' || c == '+' || c == '.':
			j := num(i)
			toks = append(toks, d[i:j])
			i = j
		default:
			toks = append(toks, d[i:i+1])
			i++
		}
	}
	return toks
}
