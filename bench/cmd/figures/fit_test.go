package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// Every chart committed under docs/figures fits its canvas in any font a
// reader's renderer may draw it in, and no text of it (a legend, a label)
// lies over the data or the grid.
func TestCommittedChartsFit(t *testing.T) {
	for _, c := range charts {
		t.Run(c.name, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("..", "..", "..", "docs", "figures", c.name+".svg"))
			require.NoError(t, err)
			problems, err := fitSVG(b)
			require.NoError(t, err)
			assert.Empty(t, problems, "the chart as a reader would see it, cut or cluttered")
		})
	}
}

// svgDoc is a canvas of 200×100 points drawn as gonum/plot draws one: y up
// from the bottom, and each text flipped back upright.
func svgDoc(body string) []byte {
	return []byte(`<?xml version="1.0"?>
<svg width="200pt" height="100pt" viewBox="0 0 200 100" xmlns="http://www.w3.org/2000/svg">
<g transform="scale(1, -1) translate(0, -100)">
<path d="M0,0L200,0L200,100L0,100Z" style="fill:#FFFFFF" />
` + body + `
</g>
</svg>`)
}

// svgText is a text as gonum/plot writes one: x and y are the start of its
// baseline in the flipped coordinates, so y is minus the height.
func svgText(x, y, size, s string) string {
	return `<text x="` + x + `" y="` + y + `" transform="scale(1, -1)" style="font-family:Liberation Serif;font-variant:normal;font-weight:normal;font-style:normal;font-size:` + size + `px">` + s + `</text>`
}

func TestFitSVG(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		want       []string // a substring of each problem, in order
	}{
		{"fits", svgText("10", "-50", "10", "inside"), nil},
		{"past the right edge", svgText("150", "-50", "10", "rtchain/Retry only"),
			[]string{`"rtchain/Retry only" reaches past the canvas`}},
		// 180 points of Liberation Serif, about 230 of DejaVu Serif.
		{"past the edge only in the fallback font", svgText("5", "-50", "10", strings.Repeat("abcdefgh", 5)),
			[]string{"reaches past the canvas"}},
		{"above the top", svgText("10", "-96", "10", "title"), []string{`"title" reaches past the canvas`}},
		{"over a line", svgText("10", "-50", "10", "legend") +
			`<path d="M0,52L200,52" style="fill:none;stroke:#F15A60;stroke-width:1.5" />`,
			[]string{`"legend" (x 10.0–…) crosses a drawn line`}},
		{"over a bar", svgText("10", "-50", "10", "label") +
			`<path d="M5,40L30,40L30,60L5,60Z" style="fill:#7AC36A" />`,
			[]string{"crosses a drawn shape"}},
		{"over a point", svgText("10", "-50", "10", "label") +
			`<path d="M22.5,53A2.5,2.5 0 1 1 17.5,53A2.5,2.5 0 1 1 22.5,53Z" style="fill:none;stroke:#000000;stroke-width:0.5" />`,
			[]string{"crosses a drawn curve"}},
		{"beside a line", svgText("10", "-50", "10", "legend") +
			`<path d="M0,70L200,70" style="fill:none;stroke:#000000" /><path d="M60,0L60,100" style="fill:none;stroke:#000000" />`, nil},
		{"rotated, inside", `<g transform="rotate(90)">` + svgText("5", "12", "10", "requests ÷ calls") + `</g>`, nil},
		{"rotated, past the bottom", `<g transform="rotate(90)">` + svgText("5", "12", "10", "requests ÷ calls, and more") + `</g>`,
			[]string{"reaches past the canvas"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			problems, err := fitSVG(svgDoc(tc.body))
			require.NoError(t, err)
			require.Len(t, problems, len(tc.want), "%q", problems)
			for i, w := range tc.want {
				for part := range strings.SplitSeq(w, "…") {
					assert.Contains(t, problems[i], part)
				}
			}
		})
	}
}

// What the check cannot measure is an error, not a pass.
func TestFitSVGRefusesWhatItCannotMeasure(t *testing.T) {
	for name, doc := range map[string][]byte{
		"another font":  []byte(`<svg viewBox="0 0 10 10"><text x="0" y="5" style="font-family:Comic Sans;font-weight:normal;font-style:normal;font-size:5px">x</text></svg>`),
		"no viewBox":    []byte(`<svg width="10pt" height="10pt"></svg>`),
		"a skew":        []byte(`<svg viewBox="0 0 10 10"><g transform="skewX(10)"></g></svg>`),
		"relative path": []byte(`<svg viewBox="0 0 10 10"><path d="m1,1l2,2" style="stroke:#000000" /></svg>`),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := fitSVG(doc)
			assert.Error(t, err)
		})
	}
}

// The fallback widths are DejaVu's and wider than Liberation Serif's, so
// that room left for them is room enough for the font the SVG names.
func TestWideTextIsTheWider(t *testing.T) {
	for _, s := range []string{"rtchain/Retry only", "0.00", "go-retryablehttp, answered 429", "requests ÷ calls", "iiii", "WWWW"} {
		f := plotFont(10)
		face := wideHandler.Plain.Fonts.Lookup(f, f.Size)
		lib := face.Width(s)
		w, _, _ := wideHandler.Box(s, f)
		assert.GreaterOrEqual(t, w, lib, s)
		assert.GreaterOrEqual(t, w, fallbackWidth(s, f.Size), s)
	}
	face := wideHandler.Plain.Fonts.Lookup(plotFont(10), 10)
	assert.Greater(t, fallbackWidth("rtchain/Retry only", 10), face.Width("rtchain/Retry only"), "DejaVu is the wider")
}

// The figures program does not write a chart a reader would see cut.
func TestWriteChartRefusesCutText(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cut.svg")
	c := vgsvg.New(100, 50)
	face := wideHandler.Plain.Fonts.Lookup(plotFont(10), 10)
	c.FillString(face, vg.Point{X: 60, Y: 20}, "a title too long for its canvas")
	err := writeChart(c, "svg", path)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "reaches past the canvas")
	assert.NoFileExists(t, path)

	ok := vgsvg.New(100, 50)
	ok.FillString(face, vg.Point{X: 10, Y: 20}, "fits")
	require.NoError(t, writeChart(ok, "svg", path))
	assert.FileExists(t, path)
}
