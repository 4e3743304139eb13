package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// The SVG that fitSVG reads: transforms and paths as gonum/plot writes
// them.

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
