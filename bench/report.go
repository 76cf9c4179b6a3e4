package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// report collects the figures of a run.
type report struct {
	header []string
	rows   []row
	// tables are printed after the rows, e.g. the throughput section's
	// side-by-side table.
	tables []string
	// compliance is the compliance run's result, for the test.
	compliance *complianceResult
}

type row struct {
	section, name, value, target string
	ok                           *bool
}

func (r *report) add(section, name, value, target string, ok *bool) {
	var p *bool
	if ok != nil {
		v := *ok
		p = &v
	}
	r.rows = append(r.rows, row{section, name, value, target, p})
}

// misses lists the rows that missed their target.
func (r *report) misses() []string {
	var out []string
	for _, w := range r.rows {
		if w.ok != nil && !*w.ok {
			out = append(out, w.section+": "+strings.TrimSpace(w.name))
		}
	}
	return out
}

func (r *report) print(w io.Writer) {
	fmt.Fprintln(w)
	for _, h := range r.header {
		fmt.Fprintln(w, h)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "section\tmeasure\tresult\ttarget\t")
	fmt.Fprintln(tw, "-------\t-------\t------\t------\t")
	last := ""
	for _, x := range r.rows {
		sec := x.section
		if sec == last {
			sec = ""
		}
		last = x.section
		status := ""
		if x.ok != nil {
			status = "ok"
			if !*x.ok {
				status = "MISSED"
			}
		}
		target := x.target
		if status != "" {
			target += " " + status
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t\n", sec, x.name, x.value, target)
	}
	_ = tw.Flush()
	for _, t := range r.tables {
		fmt.Fprintln(w)
		fmt.Fprint(w, t)
	}
	if m := r.misses(); len(m) > 0 {
		fmt.Fprintf(w, "\ntargets missed: %s\n", strings.Join(m, "; "))
	}
}
