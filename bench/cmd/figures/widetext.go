package main

import (
	"math"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	vgdraw "gonum.org/v1/plot/vg/draw"
)

// The charts are SVG whose text names Liberation Serif, the font gonum/plot
// measures with. A reader's browser draws that text in Liberation Serif, or
// in Times New Roman (the same widths) where it has that instead, but on a
// machine with neither it falls back to its default font, on Linux most
// often DejaVu Serif or DejaVu Sans: up to a third wider, enough to push a
// title or a legend past the edge of the canvas. wideText lays every text
// out for the wider of Liberation Serif and those two, so that a chart fits
// whichever of them draws it; fitSVG checks the result by the same measure.

// fallbackAdvance is the advance of each rune in the wider of DejaVu Serif
// and DejaVu Sans (Book), in 1/2048 em, read from the fonts of Debian's
// fonts-dejavu-core 2.37 (hmtx, no hinting). A rune missing here is taken as
// 1 em wide, more than any of these.
var fallbackAdvance = map[rune]int{
	' ': 651, '!': 823, '"': 942, '#': 1716, '$': 1303, '%': 1946, '&': 1823, '\'': 563,
	'(': 799, ')': 799, '*': 1024, '+': 1716, ',': 651, '-': 739, '.': 651, '/': 690,
	'0': 1303, '1': 1303, '2': 1303, '3': 1303, '4': 1303, '5': 1303, '6': 1303, '7': 1303,
	'8': 1303, '9': 1303, ':': 690, ';': 690, '<': 1716, '=': 1716, '>': 1716, '?': 1098,
	'@': 2048, 'A': 1479, 'B': 1505, 'C': 1567, 'D': 1642, 'E': 1495, 'F': 1421, 'G': 1636,
	'H': 1786, 'I': 809, 'J': 821, 'K': 1530, 'L': 1360, 'M': 2097, 'N': 1792, 'O': 1679,
	'P': 1378, 'Q': 1679, 'R': 1542, 'S': 1403, 'T': 1366, 'U': 1726, 'V': 1479, 'W': 2105,
	'X': 1458, 'Y': 1352, 'Z': 1423, '[': 799, '\\': 690, ']': 799, '^': 1716, '_': 1024,
	'`': 1024, 'a': 1255, 'b': 1311, 'c': 1147, 'd': 1311, 'e': 1260, 'f': 758, 'g': 1311,
	'h': 1319, 'i': 655, 'j': 635, 'k': 1241, 'l': 655, 'm': 1995, 'n': 1319, 'o': 1253,
	'p': 1311, 'q': 1311, 'r': 979, 's': 1067, 't': 823, 'u': 1319, 'v': 1212, 'w': 1753,
	'x': 1212, 'y': 1212, 'z': 1079, '{': 1303, '|': 690, '}': 1303, '~': 1716,
	'×': 1716, '÷': 1716, '…': 2048, '–': 1024, '—': 2048, '±': 1716, 'µ': 1331, '≤': 1716,
	'≥': 1716, '·': 651, '°': 1024, '≈': 1716, '−': 1716,
}

// The vertical extents of DejaVu Serif and Sans (the same in both), in em:
// the room a line takes.
const (
	fallbackAscent  = 1901.0 / 2048
	fallbackDescent = 483.0 / 2048
	fallbackHeight  = 2384.0 / 2048
)

// How far the ink of any rune in fallbackAdvance reaches above and below
// the baseline, in em, in the tallest of DejaVu Serif, DejaVu Sans and
// Liberation Serif (DejaVu's backtick and underscore).
const (
	inkAscent  = 0.80
	inkDescent = 0.236
)

// fallbackWidth is how wide s is in the wider of the DejaVu fonts at size,
// kerning left out (it only narrows).
func fallbackWidth(s string, size vg.Length) vg.Length {
	units := 0
	for _, r := range s {
		if a, ok := fallbackAdvance[r]; ok {
			units += a
		} else {
			units += 2048
		}
	}
	return vg.Length(units) * size / 2048
}

// wideText is gonum/plot's plain text handler measuring each line as the
// widest of the fonts a renderer may draw it in (above), so that gonum/plot
// leaves room for it, and starting it so that in any of them it stays in
// that room: a right-aligned text starts its full width left of its edge,
// a centred one half of it, whatever font then draws it.
type wideText struct {
	text.Plain
}

var _ text.Handler = wideText{}

// wideHandler is the handler every chart's text goes through.
var wideHandler = wideText{Plain: text.Plain{Fonts: font.DefaultCache}}

// Extents are Liberation Serif's, grown to the fallback fonts' where those
// reach further.
func (h wideText) Extents(f font.Font) font.Extents {
	e := h.Plain.Extents(f)
	e.Ascent = max(e.Ascent, fallbackAscent*f.Size)
	e.Descent = max(e.Descent, fallbackDescent*f.Size)
	e.Height = max(e.Height, fallbackHeight*f.Size)
	return e
}

// Box is one line's room: the wider of its widths, the taller extents.
func (h wideText) Box(txt string, f font.Font) (width, height, depth vg.Length) {
	e := h.Extents(f)
	return h.width(txt, f), e.Ascent, e.Descent
}

func (h wideText) width(txt string, f font.Font) vg.Length {
	face := h.Plain.Fonts.Lookup(f, f.Size)
	return max(face.Width(txt), fallbackWidth(txt, f.Size))
}

// Draw is text.Plain's Draw with each line placed by its wide width;
// vertically it places lines as text.Plain does, which gonum/plot's layout
// expects.
func (h wideText) Draw(c vg.Canvas, txt string, sty text.Style, pt vg.Point) {
	txt = strings.TrimRight(txt, "\n")
	if txt == "" {
		return
	}
	face := h.Plain.Fonts.Lookup(sty.Font, sty.Font.Size)
	c.SetColor(sty.Color)
	if sty.Rotation != 0 {
		c.Push()
		c.Rotate(sty.Rotation)
	}
	sin64, cos64 := math.Sincos(sty.Rotation)
	sin, cos := vg.Length(sin64), vg.Length(cos64)
	pt.X, pt.Y = pt.Y*sin+pt.X*cos, pt.Y*cos-pt.X*sin

	lines := h.Lines(txt)
	pt.Y += sty.Height(txt)*vg.Length(sty.YAlign) - h.Extents(sty.Font).Ascent
	for i, line := range lines {
		if line == "" {
			continue
		}
		c.FillString(face, vg.Point{
			X: pt.X + vg.Length(sty.XAlign)*h.width(line, sty.Font),
			Y: pt.Y + vg.Length(len(lines)-i)*sty.Font.Size,
		}, line)
	}
	if sty.Rotation != 0 {
		c.Pop()
	}
}

// useWideText sends all of p's text through wideHandler.
func useWideText(p *plot.Plot) {
	p.TextHandler = wideHandler
	for _, s := range []*text.Style{&p.Title.TextStyle, &p.X.Label.TextStyle, &p.Y.Label.TextStyle,
		&p.X.Tick.Label, &p.Y.Tick.Label, &p.Legend.TextStyle} {
		s.Handler = wideHandler
	}
}

// plotFont is the charts' font, Liberation Serif, at size.
func plotFont(size vg.Length) font.Font { return font.From(plot.DefaultFont, size) }

// newLegend is a legend of 10-point text through wideHandler, its entries
// a fifth of that apart.
func newLegend() plot.Legend {
	l := plot.NewLegend()
	l.TextStyle.Handler = wideHandler
	l.TextStyle.Font.Size = vg.Points(10)
	l.Padding = vg.Points(2)
	l.Top, l.Left = true, true
	return l
}

// legendHeight is how tall l draws: Legend.Draw starts its first entry a
// descent below the top of its canvas.
func legendHeight(l *plot.Legend) vg.Length {
	return l.Rectangle(vgdraw.Canvas{}).Size().Y + l.TextStyle.FontExtents().Descent
}
