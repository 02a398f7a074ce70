package batch

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"html/template"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/snnconvert/snnconvert/eval"
	"github.com/snnconvert/snnconvert/eval/ci"
)

// Summary is summary.json: one row per entry, in plan order. It carries the
// deterministic part of each result (accuracies, agreement, operation counts);
// timings stay in the entry files because they differ between machines.
type Summary struct {
	Version  int           `json:"version"`
	Settings []SettingSpec `json:"settings"`
	Entries  []Row         `json:"entries"`
}

// Row is one entry's line of the summary.
type Row struct {
	ID          string        `json:"id"`
	Model       string        `json:"model"`
	Path        string        `json:"path"`
	ModelSHA256 string        `json:"model_sha256"`
	Setting     string        `json:"setting"`
	Settings    eval.Settings `json:"settings"`
	Data        string        `json:"data"`
	Ts          []int         `json:"T"`
	Samples     int           `json:"samples"`
	ANNAccuracy float64       `json:"ann_accuracy"`
	ANNCorrect  int           `json:"ann_correct"`
	Points      []eval.Point  `json:"points"`
	TWithin01pp int           `json:"t_within_0_1pp"`
	TWithin1pp  int           `json:"t_within_1pp"`
	ACs         float64       `json:"acs_per_image"`
	MACs        float64       `json:"macs_per_image"`
	ANNMACs     float64       `json:"ann_macs_per_image"`
	EnergySNNuJ float64       `json:"energy_snn_uj_estimate"`
	EnergyANNuJ float64       `json:"energy_ann_uj_estimate"`
	Chosen      string        `json:"auto_choice,omitempty"`
	Error       string        `json:"error,omitempty"`
}

// Summarize builds the summary of a plan from its stored entries (in plan order).
func Summarize(plan *Plan, stored []*Stored) (*Summary, error) {
	if len(stored) != len(plan.Entries) {
		return nil, fmt.Errorf("summary: %d results for %d entries", len(stored), len(plan.Entries))
	}
	s := &Summary{Version: PlanVersion, Settings: plan.Settings}
	for i, e := range plan.Entries {
		st := stored[i]
		if st == nil || st.Entry.ID != e.ID {
			return nil, fmt.Errorf("summary: entry %d (%s/%s) has no matching result", i, e.Model, e.Setting)
		}
		row := Row{ID: e.ID, Model: e.Model, Path: e.Path, ModelSHA256: e.ModelSHA256, Setting: e.Setting, Settings: e.Settings, Data: e.Data, Ts: e.Ts, Error: st.Error}
		if r := st.Result; st.Done() {
			row.Samples, row.ANNAccuracy, row.ANNCorrect = r.Samples, r.ANNAccuracy, r.ANNCorrect
			row.Points = r.Points
			row.TWithin01pp, row.TWithin1pp = r.TWithin01pp, r.TWithin1pp
			row.ACs, row.MACs, row.ANNMACs = r.ACs, r.MACs, r.ANNMACs
			row.EnergySNNuJ, row.EnergyANNuJ = r.EnergySNNuJ, r.EnergyANNuJ
			row.Chosen = r.Chosen
		}
		s.Entries = append(s.Entries, row)
	}
	return s, nil
}

// WriteSummary writes summary.json, summary.csv, summary.md, summary.html and
// plots/<model>.svg into dir, each atomically.
func WriteSummary(dir string, plan *Plan, stored []*Stored) error {
	s, err := Summarize(plan, stored)
	if err != nil {
		return err
	}
	plots, err := s.plots()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(dir, "plots"), 0o755); err != nil {
		return fmt.Errorf("summary: %w", err)
	}
	for _, p := range plots {
		if err := ci.WriteFileAtomic(filepath.Join(dir, p.File), p.SVG); err != nil {
			return err
		}
	}
	if err := writeJSON(filepath.Join(dir, "summary.json"), s); err != nil {
		return err
	}
	csvData, err := s.CSV()
	if err != nil {
		return err
	}
	if err := ci.WriteFileAtomic(filepath.Join(dir, "summary.csv"), csvData); err != nil {
		return err
	}
	if err := ci.WriteFileAtomic(filepath.Join(dir, "summary.md"), s.Markdown(plots)); err != nil {
		return err
	}
	html, err := s.HTML(plots)
	if err != nil {
		return err
	}
	return ci.WriteFileAtomic(filepath.Join(dir, "summary.html"), html)
}

func num(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }

func pct(x float64) string { return strconv.FormatFloat(100*x, 'f', 2, 64) + "%" }

// CSV is long format: one line per entry × T (one line with the error for a
// failed entry), ready for a spreadsheet pivot or pandas.
func (s *Summary) CSV() ([]byte, error) {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	rec := func(f ...string) { _ = w.Write(f) }
	rec("id", "model", "setting", "norm", "percentile", "reset", "v_init", "encoding", "calib", "seed", "auto", "data", "samples",
		"ann_accuracy", "T", "snn_accuracy", "snn_correct", "agreement", "gap_pp", "t_within_0_1pp", "t_within_1pp",
		"acs_per_image_max_T", "macs_per_image", "ann_macs_per_image", "energy_snn_uj_estimate", "energy_ann_uj_estimate", "error")
	for _, r := range s.Entries {
		st := r.Settings
		vinit := ""
		if st.VInit != nil {
			vinit = num(*st.VInit)
		}
		head := []string{r.ID, r.Model, r.Setting, st.Norm, optNum(st.Percentile), st.Reset, vinit, st.Encoding, st.Calib,
			strconv.FormatInt(st.Seed, 10), strconv.FormatBool(st.Auto), r.Data}
		if r.Error != "" {
			rec(append(head, "", "", "", "", "", "", "", "", "", "", "", "", "", "", r.Error)...)
			continue
		}
		for _, p := range r.Points {
			rec(append(head, strconv.Itoa(r.Samples), num(r.ANNAccuracy), strconv.Itoa(p.T), num(p.Accuracy), strconv.Itoa(p.Correct),
				num(p.Agreement), num(p.GapPP), strconv.Itoa(r.TWithin01pp), strconv.Itoa(r.TWithin1pp),
				num(r.ACs), num(r.MACs), num(r.ANNMACs), num(r.EnergySNNuJ), num(r.EnergyANNuJ), "")...)
		}
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return nil, fmt.Errorf("summary.csv: %w", err)
	}
	return b.Bytes(), nil
}

func optNum(x float64) string {
	if x == 0 {
		return ""
	}
	return num(x)
}

// allTs is the sorted union of the Ts any entry reports: the columns of the
// results table.
func (s *Summary) allTs() []int {
	seen := map[int]bool{}
	var ts []int
	for _, r := range s.Entries {
		for _, p := range r.Points {
			if !seen[p.T] {
				seen[p.T] = true
				ts = append(ts, p.T)
			}
		}
	}
	sort.Ints(ts)
	return ts
}

// table is the results table as cells, shared by Markdown and HTML.
type table struct {
	Head []string
	Rows [][]string
}

func (s *Summary) resultsTable() table {
	ts := s.allTs()
	t := table{Head: []string{"Model", "Setting", "Data", "n", "ANN"}}
	for _, T := range ts {
		t.Head = append(t.Head, "SNN T="+strconv.Itoa(T))
	}
	t.Head = append(t.Head, "Agreement (max T)", "T within 0.1 pp", "T within 1 pp", "ACs/image", "MACs/image", "SNN energy µJ (est.)")
	for _, r := range s.Entries {
		row := []string{r.Model, r.Setting, r.Data}
		if r.Error != "" {
			row = append(row, "failed: "+r.Error)
			for len(row) < len(t.Head) {
				row = append(row, "")
			}
			t.Rows = append(t.Rows, row)
			continue
		}
		row = append(row, strconv.Itoa(r.Samples), pct(r.ANNAccuracy))
		at := map[int]eval.Point{}
		for _, p := range r.Points {
			at[p.T] = p
		}
		for _, T := range ts {
			if p, ok := at[T]; ok {
				row = append(row, pct(p.Accuracy))
			} else {
				row = append(row, "—")
			}
		}
		agree := "—"
		if n := len(r.Points); n > 0 {
			agree = pct(r.Points[n-1].Agreement)
		}
		row = append(row, agree, tOrNone(r.TWithin01pp), tOrNone(r.TWithin1pp),
			strconv.FormatFloat(r.ACs, 'f', 0, 64), strconv.FormatFloat(r.MACs, 'f', 0, 64), strconv.FormatFloat(r.EnergySNNuJ, 'f', 3, 64))
		t.Rows = append(t.Rows, row)
	}
	return t
}

func tOrNone(t int) string {
	if t == 0 {
		return "none"
	}
	return strconv.Itoa(t)
}

func orDefault(s string) string {
	if s == "" {
		return "default"
	}
	return s
}

func (s *Summary) settingsTable() table {
	t := table{Head: []string{"Setting", "norm", "percentile", "reset", "v_init", "encoding", "calib", "seed", "auto", "T", "data"}}
	tsOf, dataOf := map[string]string{}, map[string]string{}
	for _, r := range s.Entries {
		if _, ok := tsOf[r.Setting]; ok {
			continue
		}
		dataOf[r.Setting] = r.Data
		var ts []string
		for _, T := range r.Ts {
			ts = append(ts, strconv.Itoa(T))
		}
		tsOf[r.Setting] = strings.Join(ts, ",")
	}
	for _, sp := range s.Settings {
		st := sp.Settings
		vinit, pctl, auto := "default", "default", "no"
		if st.VInit != nil {
			vinit = num(*st.VInit)
		}
		if st.Percentile != 0 {
			pctl = num(st.Percentile)
		}
		if st.Auto {
			auto = "yes"
			if st.TargetT != 0 {
				auto += " (target T=" + strconv.Itoa(st.TargetT) + ")"
			}
		}
		t.Rows = append(t.Rows, []string{sp.Name, orDefault(st.Norm), pctl, orDefault(st.Reset), vinit, orDefault(st.Encoding),
			orDefault(st.Calib), strconv.FormatInt(st.Seed, 10), auto, orDefault(tsOf[sp.Name]), orDefault(dataOf[sp.Name])})
	}
	return t
}

func (s *Summary) failures() []string {
	var out []string
	for _, r := range s.Entries {
		if r.Error != "" {
			out = append(out, fmt.Sprintf("%s/%s (%s): %s", r.Model, r.Setting, r.ID, r.Error))
		}
	}
	return out
}

func (s *Summary) models() []string {
	var out []string
	seen := map[string]bool{}
	for _, r := range s.Entries {
		if !seen[r.Model] {
			seen[r.Model] = true
			out = append(out, r.Model)
		}
	}
	return out
}

func mdCell(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.ReplaceAll(s, "\n", " ")
}

func writeMDTable(b *bytes.Buffer, t table) {
	cells := func(row []string) {
		b.WriteString("|")
		for _, c := range row {
			b.WriteString(" " + mdCell(c) + " |")
		}
		b.WriteString("\n")
	}
	cells(t.Head)
	b.WriteString("|")
	for range t.Head {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	for _, r := range t.Rows {
		cells(r)
	}
}

func (s *Summary) intro() string {
	return fmt.Sprintf("%d entries: %d models × %d settings. SNN accuracy at each T (— where a setting did not ask for that T); agreement is the fraction of samples on which the SNN predicts what the ANN predicts; energy is an estimate (0.9 pJ/AC, 4.6 pJ/MAC, memory traffic not counted).",
		len(s.Entries), len(s.models()), len(s.Settings))
}

// Markdown renders summary.md; plots are linked as plots/<model>.svg.
func (s *Summary) Markdown(plots []modelPlot) []byte {
	var b bytes.Buffer
	b.WriteString("# snnconvert batch summary\n\n")
	b.WriteString(s.intro() + "\n\n## Results\n\n")
	writeMDTable(&b, s.resultsTable())
	if f := s.failures(); len(f) > 0 {
		b.WriteString("\n## Failed entries\n\n")
		for _, l := range f {
			b.WriteString("- " + mdCell(l) + "\n")
		}
	}
	b.WriteString("\n## Settings\n\n")
	writeMDTable(&b, s.settingsTable())
	if len(plots) > 0 {
		b.WriteString("\n## Accuracy vs T\n\n")
		for _, p := range plots {
			fmt.Fprintf(&b, "![%s](%s)\n\n", p.Model, p.File)
		}
	}
	return b.Bytes()
}

var htmlPage = template.Must(template.New("summary").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>snnconvert batch summary</title>
<style>
body { font-family: sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th { background: #f0f0f0; }
td:nth-child(-n+3) { text-align: left; }
.fail { color: #b00; }
figure { margin: 1em 0; }
</style>
</head>
<body>
<h1>snnconvert batch summary</h1>
<p>{{.Intro}}</p>
<h2>Results</h2>
{{template "table" .Results}}
{{- if .Failures}}
<h2>Failed entries</h2>
<ul>{{range .Failures}}<li class="fail">{{.}}</li>{{end}}</ul>
{{- end}}
<h2>Settings</h2>
{{template "table" .Settings}}
{{- if .Plots}}
<h2>Accuracy vs T</h2>
{{range .Plots}}<figure><figcaption>{{.Model}}</figcaption>
{{.SVG}}
</figure>
{{end}}
{{- end}}
</body>
</html>
{{define "table"}}<table>
<tr>{{range .Head}}<th>{{.}}</th>{{end}}</tr>
{{range .Rows}}<tr>{{range .}}<td>{{.}}</td>{{end}}</tr>
{{end}}</table>{{end}}
`))

// HTML renders summary.html: one self-contained page, plots inline.
func (s *Summary) HTML(plots []modelPlot) ([]byte, error) {
	type inline struct {
		Model string
		SVG   template.HTML
	}
	var ps []inline
	for _, p := range plots {
		svg := string(p.SVG)
		if i := strings.Index(svg, "<svg"); i >= 0 {
			svg = svg[i:]
		}
		// Our own plotter's output; the text in it is escaped by vgsvg.
		ps = append(ps, inline{p.Model, template.HTML(svg)})
	}
	var b bytes.Buffer
	err := htmlPage.Execute(&b, map[string]any{
		"Intro": s.intro(), "Results": s.resultsTable(), "Settings": s.settingsTable(),
		"Failures": s.failures(), "Plots": ps,
	})
	if err != nil {
		return nil, fmt.Errorf("summary.html: %w", err)
	}
	return b.Bytes(), nil
}

// modelPlot is one model's accuracy-vs-T chart.
type modelPlot struct {
	Model string
	File  string // relative to the output directory
	SVG   []byte
}

// plots draws, per model with at least one finished entry, SNN accuracy vs T
// on a log2 axis, one line per setting, and the ANN accuracy as a dashed line
// per data set.
func (s *Summary) plots() ([]modelPlot, error) {
	var out []modelPlot
	for _, model := range s.models() {
		var rows []Row
		for _, r := range s.Entries {
			if r.Model == model && r.Error == "" && len(r.Points) > 0 {
				rows = append(rows, r)
			}
		}
		if len(rows) == 0 {
			continue
		}
		svg, err := accuracyPlot(model, rows)
		if err != nil {
			return nil, fmt.Errorf("plot %s: %w", model, err)
		}
		out = append(out, modelPlot{Model: model, File: "plots/" + model + ".svg", SVG: svg})
	}
	return out, nil
}

func accuracyPlot(model string, rows []Row) ([]byte, error) {
	p, err := accuracyChart(model, rows)
	if err != nil {
		return nil, err
	}
	wt, err := p.WriterTo(6*vg.Inch, 3.6*vg.Inch, "svg")
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if _, err := wt.WriteTo(&b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func accuracyChart(model string, rows []Row) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = "SNN accuracy vs timesteps: " + model
	p.X.Label.Text = "timesteps T (log2 scale)"
	p.Y.Label.Text = "accuracy (%)"
	p.X.Scale = plot.LogScale{}
	lo, hi := math.Inf(1), math.Inf(-1)
	tickAt := map[int]bool{}
	var ticks []plot.Tick
	yMax := 0.0
	for _, r := range rows {
		for _, pt := range r.Points {
			lo, hi = math.Min(lo, float64(pt.T)), math.Max(hi, float64(pt.T))
			if !tickAt[pt.T] {
				tickAt[pt.T] = true
				ticks = append(ticks, plot.Tick{Value: float64(pt.T), Label: strconv.Itoa(pt.T)})
			}
			yMax = math.Max(yMax, 100*pt.Accuracy)
		}
	}
	sort.Slice(ticks, func(i, j int) bool { return ticks[i].Value < ticks[j].Value })
	p.X.Tick.Marker = plot.ConstantTicks(ticks)
	if lo == hi {
		lo, hi = lo/2, hi*2
	}
	p.Add(plotter.NewGrid())

	// One dashed ANN line per distinct data set (usually one).
	var dataSets []string
	annAcc := map[string]float64{}
	for _, r := range rows {
		if _, ok := annAcc[r.Data]; !ok {
			annAcc[r.Data] = r.ANNAccuracy
			dataSets = append(dataSets, r.Data)
		}
	}
	for i, d := range dataSets {
		l, err := plotter.NewLine(plotter.XYs{{X: lo, Y: 100 * annAcc[d]}, {X: hi, Y: 100 * annAcc[d]}})
		if err != nil {
			return nil, err
		}
		l.Color = color.Black
		l.Dashes = []vg.Length{vg.Points(5), vg.Points(3 + 2*float64(i))}
		l.Width = vg.Points(1.2)
		p.Add(l)
		label := fmt.Sprintf("ANN %.2f%%", 100*annAcc[d])
		if len(dataSets) > 1 {
			label += " (" + d + ")"
		}
		p.Legend.Add(label, l)
		yMax = math.Max(yMax, 100*annAcc[d])
	}
	for i, r := range rows {
		xy := make(plotter.XYs, len(r.Points))
		for j, pt := range r.Points {
			xy[j] = plotter.XY{X: float64(pt.T), Y: 100 * pt.Accuracy}
		}
		line, pts, err := plotter.NewLinePoints(xy)
		if err != nil {
			return nil, err
		}
		c := plotutil.Color(i)
		line.Color, pts.Color = c, c
		line.Width = vg.Points(1.5)
		pts.Shape = plotutil.Shape(i)
		if pts.Shape == nil {
			pts.Shape = draw.CircleGlyph{}
		}
		p.Add(line, pts)
		p.Legend.Add(r.Setting, line, pts)
	}
	p.Legend.Left = false
	p.Legend.Top = false
	p.Legend.XOffs = -vg.Points(6)
	p.Legend.YOffs = vg.Points(6)
	p.Y.Max = math.Min(100.5, yMax+0.5)
	return p, nil
}
