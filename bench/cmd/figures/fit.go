package main

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
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
