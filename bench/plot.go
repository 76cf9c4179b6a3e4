package main

import (
	"bufio"
	"fmt"
	"html"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
)

// point is one (x, y) value of a series.
type point struct{ x, y float64 }

// series is one line of a chart.
type series struct {
	name   string
	points []point
}

// chart is one panel: line series over shared axes. The y axis starts at 0;
// the x axis is linear or, with logX, logarithmic (every x must be > 0).
type chart struct {
	title, xLabel, yLabel string
	logX                  bool
	// xAtData puts the x ticks at the data's x values (e.g. 1, 2, 4, 6,
	// 12 worker processes) instead of round steps.
	xAtData bool
	series  []series
}

// Panel geometry of writeSVG, in SVG user units.
const (
	panelW, panelH = 440, 300
	marginL        = 62 // room for y tick labels
	marginR        = 16
	marginT        = 34 // title
	marginB        = 46 // x tick labels and axis label
)

// palette colours the series of a chart in order.
var palette = [...]string{"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"}

// frame maps data values of a chart to SVG coordinates inside one panel.
type frame struct {
	x0, x1, y0, y1 float64 // data range
	logX           bool
	dataX          []float64 // the data's x values, sorted, for chart.xAtData
	left, top      float64   // the plot area's corner, SVG units
	w, h           float64   // the plot area's size
}

// newFrame fits a frame to c's data in the panel whose top-left corner is
// (ox, oy). The y range is [0, the last tick of niceTicks]; the x range is
// the data's (decades with logX).
func newFrame(c chart, ox, oy float64) frame {
	f := frame{logX: c.logX, left: ox + marginL, top: oy + marginT,
		w: panelW - marginL - marginR, h: panelH - marginT - marginB}
	f.x0, f.x1 = math.Inf(1), math.Inf(-1)
	ymax := 0.0
	for _, s := range c.series {
		for _, p := range s.points {
			f.x0, f.x1 = math.Min(f.x0, p.x), math.Max(f.x1, p.x)
			ymax = math.Max(ymax, p.y)
			if c.xAtData && !slices.Contains(f.dataX, p.x) {
				f.dataX = append(f.dataX, p.x)
			}
		}
	}
	slices.Sort(f.dataX)
	if math.IsInf(f.x0, 0) { // no points
		f.x0, f.x1 = 0, 1
	}
	if c.logX {
		f.x0 = math.Pow(10, math.Floor(math.Log10(f.x0)))
		f.x1 = math.Pow(10, math.Ceil(math.Log10(f.x1)))
	}
	if f.x1 == f.x0 {
		f.x1 = f.x0 + 1
	}
	yt := niceTicks(ymax)
	f.y0, f.y1 = 0, yt[len(yt)-1]
	return f
}

// at returns the SVG coordinates of a data point.
func (f frame) at(p point) (float64, float64) {
	fx := (p.x - f.x0) / (f.x1 - f.x0)
	if f.logX {
		fx = (math.Log10(p.x) - math.Log10(f.x0)) / (math.Log10(f.x1) - math.Log10(f.x0))
	}
	fy := (p.y - f.y0) / (f.y1 - f.y0)
	return f.left + fx*f.w, f.top + (1-fy)*f.h
}

// xTicks are the x axis's tick values: the data's x values with
// chart.xAtData, decades with logX, else those of niceTicks within the
// data's range.
func (f frame) xTicks() []float64 {
	if len(f.dataX) > 0 {
		return f.dataX
	}
	if f.logX {
		var t []float64
		for e := math.Log10(f.x0); e <= math.Log10(f.x1)+1e-9; e++ {
			t = append(t, math.Pow(10, e))
		}
		return t
	}
	var t []float64
	for _, v := range niceTicks(f.x1) {
		if v >= f.x0-1e-9 && v <= f.x1+1e-9 {
			t = append(t, v)
		}
	}
	return t
}

// niceTicks returns 0 and evenly spaced round values (1, 2 or 5 × 10^k
// apart) up to the first one at or above hi: 4 to 6 intervals.
func niceTicks(hi float64) []float64 {
	if hi <= 0 || math.IsNaN(hi) || math.IsInf(hi, 0) {
		return []float64{0, 1}
	}
	raw := hi / 5
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 5, 10} {
		if m*mag >= raw-1e-12*raw {
			step = m * mag
			break
		}
	}
	n := int(math.Ceil(hi/step - 1e-9))
	t := make([]float64, n+1)
	for i := range t {
		t[i] = float64(i) * step
	}
	return t
}

// tickLabel formats a tick value compactly: 2500, 1.5, 10k, 1M.
func tickLabel(v float64) string {
	switch a := math.Abs(v); {
	case a >= 1e6 && math.Mod(v, 1e6) == 0:
		return strconv.FormatFloat(v/1e6, 'f', -1, 64) + "M"
	case a >= 1e4 && math.Mod(v, 1e3) == 0:
		return strconv.FormatFloat(v/1e3, 'f', -1, 64) + "k"
	default:
		return strconv.FormatFloat(v, 'g', 10, 64) // 0.6, not 0.6000000000000001
	}
}

// writeSVG draws charts as a grid of panels, cols to a row, with the
// standard library only: axes with ticks, one polyline with point markers
// per series, and a legend.
func writeSVG(w io.Writer, title string, charts []chart, cols int) error {
	if cols < 1 {
		return fmt.Errorf("writeSVG: %d columns", cols)
	}
	rows := (len(charts) + cols - 1) / cols
	const head = 30
	width, height := cols*panelW, rows*panelH+head
	bw := bufio.NewWriter(w)
	p := func(format string, a ...any) { fmt.Fprintf(bw, format, a...) }
	esc := html.EscapeString
	p(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="11">`+"\n",
		width, height, width, height)
	p(`<rect width="%d" height="%d" fill="white"/>`+"\n", width, height)
	p(`<text x="%d" y="20" font-size="15" text-anchor="middle">%s</text>`+"\n", width/2, esc(title))
	for i, c := range charts {
		ox, oy := float64(i%cols*panelW), float64(i/cols*panelH+head)
		f := newFrame(c, ox, oy)
		p(`<g>` + "\n")
		p(`<text x="%.1f" y="%.1f" font-size="13" text-anchor="middle">%s</text>`+"\n", ox+panelW/2, oy+18, esc(c.title))
		// Grid and y ticks.
		for _, v := range niceTicks(f.y1) {
			_, y := f.at(point{f.x0, v})
			p(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#e0e0e0"/>`+"\n", f.left, y, f.left+f.w, y)
			p(`<text x="%.1f" y="%.1f" text-anchor="end">%s</text>`+"\n", f.left-4, y+4, tickLabel(v))
		}
		for _, v := range f.xTicks() {
			x, _ := f.at(point{v, 0})
			p(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#e0e0e0"/>`+"\n", x, f.top, x, f.top+f.h)
			p(`<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", x, f.top+f.h+14, tickLabel(v))
		}
		p(`<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="none" stroke="#444"/>`+"\n", f.left, f.top, f.w, f.h)
		p(`<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", f.left+f.w/2, f.top+f.h+32, esc(c.xLabel))
		p(`<text transform="translate(%.1f %.1f) rotate(-90)" text-anchor="middle">%s</text>`+"\n",
			ox+14, f.top+f.h/2, esc(c.yLabel))
		for j, s := range c.series {
			col := palette[j%len(palette)]
			var pts []string
			for _, q := range s.points {
				x, y := f.at(q)
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", x, y))
			}
			p(`<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`+"\n", col, strings.Join(pts, " "))
			for _, q := range s.points {
				x, y := f.at(q)
				p(`<circle cx="%.1f" cy="%.1f" r="2.5" fill="%s"/>`+"\n", x, y, col)
			}
			ly := f.top + 14 + float64(j)*14
			p(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="2"/>`+"\n", f.left+8, ly-4, f.left+24, ly-4, col)
			p(`<text x="%.1f" y="%.1f">%s</text>`+"\n", f.left+28, ly, esc(s.name))
		}
		p("</g>\n")
	}
	p("</svg>\n")
	return bw.Flush()
}
