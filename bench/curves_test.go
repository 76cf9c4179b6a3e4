package main

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"runtime"
	"slices"
	"strings"
	"testing"
)

func TestParseInts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    []int
		wantErr bool
	}{
		{in: "1,2,4,6,12", want: []int{1, 2, 4, 6, 12}},
		{in: " 1, 6 ,24", want: []int{1, 6, 24}},
		{in: "1k,100k,1M", want: []int{1000, 100_000, 1_000_000}},
		{in: "7", want: []int{7}},
		{in: "", wantErr: true},
		{in: "1,,2", wantErr: true},
		{in: "0", wantErr: true},
		{in: "-3", wantErr: true},
		{in: "2x", wantErr: true},
		{in: "k", wantErr: true},
		{in: "1.5k", wantErr: true},
	}
	for _, tt := range tests {
		got, err := parseInts(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("parseInts(%q) error %v, want error %v", tt.in, err, tt.wantErr)
			continue
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("parseInts(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestIntListFlag(t *testing.T) {
	t.Parallel()
	v := []int{1}
	l := intList{&v}
	if err := l.Set("2,3"); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(v, []int{2, 3}) || l.String() != "2,3" {
		t.Errorf("after Set(\"2,3\"): %v, String %q", v, l.String())
	}
	if err := l.Set("x"); err == nil || !slices.Equal(v, []int{2, 3}) {
		t.Errorf("Set(\"x\") = %v and left %v; want an error and no change", err, v)
	}
}

func TestCloneID(t *testing.T) {
	t.Parallel()
	tmpl := "abcdefghijklmnopqrstuvwxyz" // 26, as client ids
	seen := map[string]bool{}
	for _, i := range []int{0, 1, 10, 999_999, 1_000_000} {
		id, err := cloneID(tmpl, i)
		if err != nil {
			t.Fatal(err)
		}
		if len(id) != len(tmpl) || seen[id] {
			t.Errorf("cloneID(%d) = %q: want %d characters, distinct", i, id, len(tmpl))
		}
		seen[id] = true
	}
	if _, err := cloneID("short", 123456); err == nil {
		t.Error("cloneID with an id shorter than the copy's number: no error")
	}
}

func TestNiceTicks(t *testing.T) {
	t.Parallel()
	tests := []struct {
		max  float64
		want []float64
	}{
		{2400, []float64{0, 500, 1000, 1500, 2000, 2500}},
		{10, []float64{0, 2, 4, 6, 8, 10}},
		{1, []float64{0, 0.2, 0.4, 0.6, 0.8, 1}},
		{0.003, []float64{0, 0.001, 0.002, 0.003}},
		{817, []float64{0, 200, 400, 600, 800, 1000}},
		{0, []float64{0, 1}},
		{math.NaN(), []float64{0, 1}},
	}
	for _, tt := range tests {
		if got := niceTicks(tt.max); !slices.EqualFunc(got, tt.want, func(a, b float64) bool { return math.Abs(a-b) < 1e-9 }) {
			t.Errorf("niceTicks(%v) = %v, want %v", tt.max, got, tt.want)
		}
	}
}

func TestTickLabel(t *testing.T) {
	t.Parallel()
	for v, want := range map[float64]string{0: "0", 0.6000000000000001: "0.6", 1000: "1000", 2500: "2500", 0.5: "0.5", 10_000: "10k", 100_000: "100k", 1_000_000: "1M", 12_345: "12345"} {
		if got := tickLabel(v); got != want {
			t.Errorf("tickLabel(%v) = %q, want %q", v, got, want)
		}
	}
}

func TestFrame(t *testing.T) {
	t.Parallel()
	lin := newFrame(chart{series: []series{{points: []point{{0, 0}, {10, 10}}}}}, 0, 0)
	x, y := lin.at(point{0, 0})
	if x != marginL || y != panelH-marginB {
		t.Errorf("linear (0,0) at (%v,%v), want the plot's bottom-left (%v,%v)", x, y, marginL, panelH-marginB)
	}
	x, y = lin.at(point{10, 10})
	if x != panelW-marginR || y != marginT {
		t.Errorf("linear (10,10) at (%v,%v), want the plot's top-right (%v,%v)", x, y, panelW-marginR, marginT)
	}
	if got := lin.xTicks(); !slices.Equal(got, []float64{0, 2, 4, 6, 8, 10}) {
		t.Errorf("linear x ticks %v, want 0..10 by 2", got)
	}
	part := newFrame(chart{series: []series{{points: []point{{0.5, 1}, {4.5, 1}}}}}, 0, 0)
	if got := part.xTicks(); !slices.Equal(got, []float64{1, 2, 3, 4}) {
		t.Errorf("x ticks of data from 0.5 to 4.5: %v, want 1..4 (none outside the plot)", got)
	}
	data := newFrame(chart{xAtData: true, series: []series{
		{points: []point{{12, 1}, {1, 1}, {4, 2}}}, {points: []point{{6, 3}, {2, 1}, {4, 0}}},
	}}, 0, 0)
	if got := data.xTicks(); !slices.Equal(got, []float64{1, 2, 4, 6, 12}) {
		t.Errorf("xAtData ticks %v, want the data's x values 1, 2, 4, 6, 12", got)
	}
	log := newFrame(chart{logX: true, series: []series{{points: []point{{1000, 1}, {1_000_000, 2}}}}}, panelW, 0)
	if got := log.xTicks(); !slices.Equal(got, []float64{1e3, 1e4, 1e5, 1e6}) {
		t.Errorf("log x ticks %v, want the decades 1e3..1e6", got)
	}
	x1, _ := log.at(point{1e3, 0})
	x2, _ := log.at(point{1e4, 0})
	x3, _ := log.at(point{1e6, 0})
	if x1 != panelW+marginL || math.Abs((x2-x1)*3-(x3-x1)) > 1e-9 {
		t.Errorf("log x: 1e3 at %v, 1e4 at %v, 1e6 at %v; want equal decades from %v", x1, x2, x3, panelW+marginL)
	}
}

func TestWriteSVG(t *testing.T) {
	t.Parallel()
	charts := []chart{
		{title: "Throughput <a&b>", xLabel: "procs", yLabel: "msgs/s", series: []series{
			{name: "rate", points: []point{{1, 1000}, {2, 2000}, {4, 2400}}},
		}},
		{title: "Latency", xLabel: "pending", yLabel: "ms", logX: true, series: []series{
			{name: "p50", points: []point{{1e3, 1}, {1e6, 2}}},
			{name: "p99", points: []point{{1e3, 3}, {1e6, 5}}},
		}},
		{title: "empty"},
	}
	var buf bytes.Buffer
	if err := writeSVG(&buf, "title", charts, 2); err != nil {
		t.Fatal(err)
	}
	// Well-formed XML, and count what was drawn.
	dec := xml.NewDecoder(&buf)
	counts := map[string]int{}
	var texts []string
	var polylines []string
	var root string
	for {
		tok, err := dec.Token()
		if err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			t.Fatalf("not well-formed XML: %v", err)
		}
		switch e := tok.(type) {
		case xml.StartElement:
			if root == "" {
				root = e.Name.Local
				for _, a := range e.Attr {
					if a.Name.Local == "height" && a.Value != "630" { // 2 rows × 300 + 30
						t.Errorf("height %s, want 630", a.Value)
					}
				}
			}
			counts[e.Name.Local]++
			if e.Name.Local == "polyline" {
				for _, a := range e.Attr {
					if a.Name.Local == "points" {
						polylines = append(polylines, a.Value)
					}
				}
			}
		case xml.CharData:
			if s := strings.TrimSpace(string(e)); s != "" {
				texts = append(texts, s)
			}
		}
	}
	if root != "svg" {
		t.Errorf("root element %q, want svg", root)
	}
	if counts["polyline"] != 3 || counts["circle"] != 7 {
		t.Errorf("%d polylines and %d circles, want 3 and 7 (one per series and point)", counts["polyline"], counts["circle"])
	}
	// The first series: x 1..4 over the linear frame [1, 4]; y 0..2500.
	f := newFrame(charts[0], 0, 30)
	x, y := f.at(point{4, 2400})
	if want := strings.Fields(polylines[0])[2]; want != fmtPoint(x, y) {
		t.Errorf("third point of the first series at %s, want %s", want, fmtPoint(x, y))
	}
	for _, want := range []string{"Throughput <a&b>", "p50", "p99", "1000", "10k", "1M", "2500", "empty"} {
		if !slices.Contains(texts, want) {
			t.Errorf("no text %q in the SVG (texts %q)", want, texts)
		}
	}
	if err := writeSVG(&bytes.Buffer{}, "x", charts, 0); err == nil {
		t.Error("writeSVG with 0 columns: no error")
	}
}

func fmtPoint(x, y float64) string { return fmt.Sprintf("%.1f,%.1f", x, y) }

func TestParseProcStat(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    machineCPU
		wantErr bool
	}{
		// user nice system idle iowait irq softirq steal guest guest_nice
		{in: "cpu  100 5 50 800 40 3 2 0 7 0\ncpu0 1 2 3 4 5\n", want: machineCPU{busy: 160, total: 1000}},
		{in: "cpu 10 0 10 80 0\n", want: machineCPU{busy: 20, total: 100}},
		{in: "cpu0 1 2 3 4 5\n", wantErr: true},
		{in: "cpu 1 2\n", wantErr: true},
		{in: "cpu 1 2 x 4 5\n", wantErr: true},
		{in: "", wantErr: true},
	}
	for _, tt := range tests {
		got, err := parseProcStat(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("parseProcStat(%q) = %+v, %v; want %+v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
	a, z := machineCPU{busy: 100, total: 1000}, machineCPU{busy: 600, total: 2000}
	if got, want := a.coresBusy(z), 0.5*float64(runtime.NumCPU()); got != want {
		t.Errorf("coresBusy = %v, want %v (half of every core)", got, want)
	}
	if got := z.coresBusy(a); got != 0 {
		t.Errorf("coresBusy backwards = %v, want 0", got)
	}
}
