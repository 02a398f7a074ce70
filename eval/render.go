package eval

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/jedib0t/go-pretty/v6/table"
	"github.com/jedib0t/go-pretty/v6/text"
)

// Caveats every report carries, because a reader comparing numbers with a
// paper must know what they include.
const (
	energyNote = "Energy is an estimate: 0.9 pJ per accumulate (AC) and 4.6 pJ per multiply-accumulate " +
		"(MAC), 45 nm fp32 figures (Horowitz 2014); memory traffic is not counted."
	maxPoolNote = "Max pooling on spikes passes, per window, the spikes of the input neuron with the " +
		"largest spike count so far; it approximates the ANN's max pool."
	correlationNote = "Correlation is Pearson's r over all (sample, neuron) pairs between the ANN activation " +
		"the IF layer approximates, divided by that layer's threshold scale, and the SNN firing rate at the largest T."
)

func pct(x float64) string { return strconv.FormatFloat(100*x, 'f', 2, 64) + "%" }

func tOrNone(t int) string {
	if t == 0 {
		return "none of the reported T"
	}
	return strconv.Itoa(t)
}

// describeSettings lists the settings as a user would type them.
func describeSettings(s Settings) string {
	var b strings.Builder
	add := func(k, v string) {
		if v == "" {
			return
		}
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		b.WriteString(k + " " + v)
	}
	add("norm", s.Norm)
	if s.Percentile != 0 {
		add("percentile", strconv.FormatFloat(s.Percentile, 'g', -1, 64))
	}
	add("reset", s.Reset)
	if s.VInit != nil {
		add("v_init", strconv.FormatFloat(*s.VInit, 'g', -1, 64))
	}
	add("encoding", s.Encoding)
	add("calib", s.Calib)
	add("seed", strconv.FormatInt(s.Seed, 10))
	if s.Auto {
		add("auto", "target T "+strconv.Itoa(s.TargetT))
	}
	return b.String()
}

func describeReference(rc *RefCheck) string {
	switch {
	case rc == nil:
		return "not requested"
	case !rc.Supported:
		return rc.Backend + ": not supported (" + rc.Note + ")"
	}
	verdict := "agrees with ann"
	if !rc.Agree {
		verdict = "DISAGREES with ann"
	}
	s := fmt.Sprintf("%s: %s on %d samples, max |diff| %.3g", rc.Backend, verdict, rc.Samples, rc.MaxAbsDiff)
	if rc.Note != "" {
		s += " (" + rc.Note + ")"
	}
	return s
}

func shortSHA(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}

// summaryRows are the key facts above the tables, shared by every format.
func summaryRows(r *Result, x *Extras) [][2]string {
	var rows [][2]string
	if x != nil && x.Command != "" {
		rows = append(rows, [2]string{"Command", x.Command})
	}
	rows = append(rows, [][2]string{
		{"Model", r.Model + " (sha256 " + shortSHA(r.ModelSHA256) + ")"},
		{"Data", fmt.Sprintf("%s, %d samples", r.Data, r.Samples)},
		{"Settings", describeSettings(r.Settings)},
		{"ANN accuracy", fmt.Sprintf("%s (%d/%d)", pct(r.ANNAccuracy), r.ANNCorrect, r.Samples)},
		{"Reference", describeReference(r.Reference)},
		{"SNN within 0.1 pp of ANN from T", tOrNone(r.TWithin01pp)},
		{"SNN within 1 pp of ANN from T", tOrNone(r.TWithin1pp)},
	}...)
	if r.Chosen != "" {
		rows = append(rows, [2]string{"Auto choice", r.Chosen})
	}
	return rows
}

func pointsTable(r *Result) table.Writer {
	t := table.NewWriter()
	t.AppendHeader(table.Row{"T", "SNN accuracy", "correct", "95% interval", "gap (pp)", "agreement"})
	lo, hi := Wilson(r.ANNCorrect, r.Samples, 1.96)
	t.AppendRow(table.Row{"ANN", pct(r.ANNAccuracy), r.ANNCorrect, pct(lo) + " – " + pct(hi), "", ""})
	for _, p := range r.Points {
		lo, hi := Wilson(p.Correct, r.Samples, 1.96)
		t.AppendRow(table.Row{p.T, pct(p.Accuracy), p.Correct, pct(lo) + " – " + pct(hi),
			strconv.FormatFloat(p.GapPP, 'f', 2, 64), pct(p.Agreement)})
	}
	t.SetColumnConfigs([]table.ColumnConfig{
		{Number: 1, Align: text.AlignRight}, {Number: 2, Align: text.AlignRight}, {Number: 3, Align: text.AlignRight},
		{Number: 5, Align: text.AlignRight}, {Number: 6, Align: text.AlignRight},
	})
	return t
}

func layersTable(r *Result) table.Writer {
	t := table.NewWriter()
	t.AppendHeader(table.Row{"layer", "ANN value", "neurons", "correlation", "mean rate"})
	for _, l := range r.Layers {
		corr := strconv.FormatFloat(l.Correlation, 'f', 4, 64)
		if l.CorrUndefined {
			corr = "undefined"
		}
		t.AppendRow(table.Row{l.Name, l.ANNValue, l.Neurons, corr, strconv.FormatFloat(l.MeanRate, 'f', 4, 64)})
	}
	t.SetColumnConfigs([]table.ColumnConfig{
		{Number: 3, Align: text.AlignRight}, {Number: 4, Align: text.AlignRight}, {Number: 5, Align: text.AlignRight},
	})
	return t
}

func maxT(r *Result) int {
	if len(r.Points) == 0 {
		return 0
	}
	return r.Points[len(r.Points)-1].T
}

func costTable(r *Result) table.Writer {
	t := table.NewWriter()
	t.AppendHeader(table.Row{"per image", "SNN (T=" + strconv.Itoa(maxT(r)) + ")", "ANN"})
	g := func(x float64) string { return strconv.FormatFloat(x, 'g', 4, 64) }
	t.AppendRow(table.Row{"ACs", g(r.ACs), "0"})
	t.AppendRow(table.Row{"MACs", g(r.MACs), g(r.ANNMACs)})
	t.AppendRow(table.Row{"energy, µJ (estimate)", g(r.EnergySNNuJ), g(r.EnergyANNuJ)})
	t.AppendRow(table.Row{"images/s", strconv.FormatFloat(r.ImagesPerSec, 'f', 1, 64), ""})
	t.SetColumnConfigs([]table.ColumnConfig{{Number: 2, Align: text.AlignRight}, {Number: 3, Align: text.AlignRight}})
	return t
}

// Table renders r for a terminal: the key facts, then accuracy per T,
// per-layer statistics and costs.
func Table(r *Result) string {
	var b strings.Builder
	for _, row := range summaryRows(r, nil) {
		fmt.Fprintf(&b, "%-32s %s\n", row[0]+":", row[1])
	}
	for _, t := range []table.Writer{pointsTable(r), layersTable(r), costTable(r)} {
		t.SetStyle(table.StyleLight)
		b.WriteString("\n" + t.Render() + "\n")
	}
	for _, n := range notes(r) {
		b.WriteString("note: " + n + "\n")
	}
	for _, w := range r.Warnings {
		b.WriteString("warning: " + w + "\n")
	}
	return b.String()
}

// reportPlots names the SVG files of a report, in the order they appear.
type reportPlot struct {
	File, Title string
	SVG         []byte
}

func makePlots(r *Result) ([]reportPlot, error) {
	type maker struct {
		file, title string
		fn          func() ([]byte, error)
	}
	makers := []maker{
		{"accuracy.svg", "Accuracy vs T", func() ([]byte, error) { return AccuracyPlot(r) }},
	}
	if len(r.Layers) > 0 {
		makers = append(makers,
			maker{"correlation.svg", "Per-layer correlation", func() ([]byte, error) { return CorrelationPlot(r) }},
			maker{"firing_rate.svg", "Per-layer firing rate", func() ([]byte, error) { return RatePlot(r) }})
	}
	if r.Raster != nil {
		makers = append(makers, maker{"raster.svg", "Spike raster", func() ([]byte, error) { return RasterPlot(r.Raster) }})
	}
	plots := make([]reportPlot, 0, len(makers))
	for _, m := range makers {
		b, err := m.fn()
		if err != nil {
			return nil, fmt.Errorf("plot %s: %w", m.file, err)
		}
		plots = append(plots, reportPlot{File: m.file, Title: m.title, SVG: b})
	}
	return plots, nil
}

func notes(r *Result) []string {
	n := []string{correlationNote, energyNote}
	if r.HasMaxPool {
		n = append(n, maxPoolNote)
	}
	return n
}

// WriteMarkdown writes the report as Markdown; plots are referenced as the
// SVG files WriteReport puts next to it.
func WriteMarkdown(w io.Writer, r *Result) error {
	plots, err := plotList(r)
	if err != nil {
		return err
	}
	return writeMarkdown(w, r, nil, plots)
}

// plotList lists the report's plots without rendering them (Markdown only links them).
func plotList(r *Result) ([]reportPlot, error) {
	if len(r.Points) == 0 {
		return nil, fmt.Errorf("result for %s has no timesteps", r.Model)
	}
	plots := []reportPlot{{File: "accuracy.svg", Title: "Accuracy vs T"}}
	if len(r.Layers) > 0 {
		plots = append(plots, reportPlot{File: "correlation.svg", Title: "Per-layer correlation"},
			reportPlot{File: "firing_rate.svg", Title: "Per-layer firing rate"})
	}
	if r.Raster != nil {
		plots = append(plots, reportPlot{File: "raster.svg", Title: "Spike raster"})
	}
	return plots, nil
}

func writeMarkdown(w io.Writer, r *Result, x *Extras, plots []reportPlot) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# SNN evaluation: %s\n\n", r.Model)
	for _, row := range summaryRows(r, x) {
		fmt.Fprintf(&b, "- **%s:** %s\n", row[0], mdEscape(row[1]))
	}
	b.WriteString("\n## Accuracy per timestep count\n\n" + pointsTable(r).RenderMarkdown() + "\n")
	if len(r.Layers) > 0 {
		b.WriteString("\n## Per-layer statistics (at T=" + strconv.Itoa(maxT(r)) + ")\n\n" + layersTable(r).RenderMarkdown() + "\n")
	}
	b.WriteString("\n## Cost\n\n" + costTable(r).RenderMarkdown() + "\n")
	b.WriteString("\n## Plots\n\n")
	for _, p := range plots {
		fmt.Fprintf(&b, "![%s](%s)\n\n", p.Title, p.File)
	}
	if len(r.Warnings) > 0 {
		b.WriteString("## Warnings\n\n")
		for _, wn := range r.Warnings {
			b.WriteString("- " + mdEscape(wn) + "\n")
		}
		b.WriteString("\n")
	}
	b.WriteString("## Notes\n\n")
	for _, n := range notes(r) {
		b.WriteString("- " + n + "\n")
	}
	_, err := w.Write(b.Bytes())
	return err
}

// mdEscape keeps user-controlled strings (paths, warnings) from turning into
// Markdown markup.
func mdEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, "*", `\*`, "_", `\_`, "`", "\\`", "[", `\[`, "]", `\]`, "|", `\|`, "<", "&lt;").Replace(s)
}

var htmlPage = template.Must(template.New("report").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>SNN evaluation: {{.R.Model}}</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.6rem; }
th { background: #f2f2f2; }
td[align="right"] { font-variant-numeric: tabular-nums; }
dl { display: grid; grid-template-columns: max-content auto; gap: 0.2rem 1rem; }
dt { font-weight: 600; }
dd { margin: 0; }
figure { margin: 1rem 0; }
figure svg { max-width: 100%; height: auto; }
.warn { color: #a40; }
</style>
</head>
<body>
<h1>SNN evaluation: {{.R.Model}}</h1>
<dl>
{{- range .Summary}}
<dt>{{index . 0}}</dt><dd>{{index . 1}}</dd>
{{- end}}
</dl>
<h2>Accuracy per timestep count</h2>
{{.Points}}
{{- if .Layers}}
<h2>Per-layer statistics (at T={{.MaxT}})</h2>
{{.Layers}}
{{- end}}
<h2>Cost</h2>
{{.Cost}}
<h2>Plots</h2>
{{- range .Plots}}
<figure>
{{.SVG}}
<figcaption>{{.Title}}</figcaption>
</figure>
{{- end}}
{{- if .R.Warnings}}
<h2>Warnings</h2>
<ul>
{{- range .R.Warnings}}
<li class="warn">{{.}}</li>
{{- end}}
</ul>
{{- end}}
<h2>Notes</h2>
<ul>
{{- range .Notes}}
<li>{{.}}</li>
{{- end}}
</ul>
</body>
</html>
`))

type htmlPlot struct {
	Title string
	SVG   template.HTML
}

// inlineSVG strips the XML prolog so an SVG document can sit inside HTML.
func inlineSVG(svg []byte) template.HTML {
	s := string(svg)
	if i := strings.Index(s, "<svg"); i >= 0 {
		s = s[i:]
	}
	// The SVG comes from our own plotter, never from user input.
	return template.HTML(s)
}

// WriteHTML writes the report as one self-contained HTML page: styles and
// SVG plots are inline, nothing is fetched from the network.
func WriteHTML(w io.Writer, r *Result) error {
	plots, err := makePlots(r)
	if err != nil {
		return err
	}
	return writeHTML(w, r, nil, plots)
}

func writeHTML(w io.Writer, r *Result, x *Extras, plots []reportPlot) error {
	hp := make([]htmlPlot, len(plots))
	for i, p := range plots {
		hp[i] = htmlPlot{Title: p.Title, SVG: inlineSVG(p.SVG)}
	}
	var layers template.HTML
	if len(r.Layers) > 0 {
		layers = template.HTML(layersTable(r).RenderHTML())
	}
	var b bytes.Buffer
	err := htmlPage.Execute(&b, map[string]any{
		"R":       r,
		"Summary": summaryRows(r, x),
		"Points":  template.HTML(pointsTable(r).RenderHTML()),
		"Layers":  layers,
		"Cost":    template.HTML(costTable(r).RenderHTML()),
		"MaxT":    maxT(r),
		"Plots":   hp,
		"Notes":   notes(r),
	})
	if err != nil {
		return fmt.Errorf("html report: %w", err)
	}
	_, err = w.Write(b.Bytes())
	return err
}

// WriteJSON writes r as indented JSON to path, atomically.
func WriteJSON(path string, r *Result) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return writeFileAtomic(path, append(b, '\n'))
}

// ReadJSON reads a Result written by WriteJSON.
func ReadJSON(path string) (*Result, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r Result
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &r, nil
}

// Extras add to a report what the Result does not hold.
type Extras struct {
	// Command is the command line that produced the result, shown at the top
	// so a report can be reproduced.
	Command string
}

// WriteReport writes dir/report.md, dir/report.html, dir/result.json and
// one SVG per plot (accuracy.svg, correlation.svg, firing_rate.svg and, when
// r.Raster is set, raster.svg). Every file is written to a temporary name and
// renamed, so an interrupted run never leaves a truncated file behind.
func WriteReport(dir string, r *Result, x *Extras) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	plots, err := makePlots(r)
	if err != nil {
		return fmt.Errorf("report %s: %w", dir, err)
	}
	var md, html bytes.Buffer
	if err := writeMarkdown(&md, r, x, plots); err != nil {
		return err
	}
	if err := writeHTML(&html, r, x, plots); err != nil {
		return err
	}
	for _, p := range plots {
		if err := writeFileAtomic(filepath.Join(dir, p.File), p.SVG); err != nil {
			return err
		}
	}
	if err := WriteJSON(filepath.Join(dir, "result.json"), r); err != nil {
		return err
	}
	if err := writeFileAtomic(filepath.Join(dir, "report.md"), md.Bytes()); err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(dir, "report.html"), html.Bytes())
}

// writeFileAtomic writes data to a temporary file in path's directory and
// renames it over path.
func writeFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, werr := f.Write(data)
	cerr := f.Close()
	if werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Chmod(tmp, 0o644)
	}
	if werr == nil {
		werr = os.Rename(tmp, path)
	}
	if werr != nil {
		os.Remove(tmp)
		return fmt.Errorf("%s: %w", path, werr)
	}
	return nil
}
