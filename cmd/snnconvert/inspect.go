package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/jedib0t/go-pretty/v6/table"
	"github.com/jedib0t/go-pretty/v6/text"
	"github.com/spf13/cobra"

	"github.com/snnconvert/snnconvert/ann"
	"github.com/snnconvert/snnconvert/convert"
	"github.com/snnconvert/snnconvert/importer"
	"github.com/snnconvert/snnconvert/snnrt"
)

var inspectOpts struct {
	json    bool
	outputs []string
}

var inspectCmd = &cobra.Command{
	Use:   "inspect MODEL.onnx | MODEL.snn.onnx",
	Short: "Show a model's header, layers and a conversion pre-flight report",
	Long: `inspect imports an ONNX model and prints its producer, IR version, opsets,
inputs and outputs, a per-layer table (op, output shape, parameters, MACs per
image) and a conversion pre-flight report that marks every node supported,
rewritten (and how) or refused (why, and what to change in the source model).

A model the importer cannot read is reported with every offending node at
once. --output cuts the graph at the named values first (for graphs that also
compute metrics or post-processing).

Given a spiking network that convert wrote (*.snn.onnx), inspect prints its
header instead (semantics version, encoding, source model, normalisation,
metadata) and a per-layer table: output shape, parameters, what each synaptic
layer costs the source ANN in MACs, and each IF layer's neurons, thresholds,
reset and v_init.

Exit codes: 0 the model was inspected (convertible or not; see the report),
2 the model could not be imported.`,
	Example: `  snnconvert inspect models/lenet5.onnx
  snnconvert inspect model.onnx --json
  snnconvert inspect metric_graph.onnx --output y:0
  snnconvert inspect lenet5.snn.onnx`,
	Args: cobra.ExactArgs(1),
	RunE: func(cmd *cobra.Command, args []string) error {
		return runInspect(cmd.OutOrStdout(), args[0], inspectOpts.json, inspectOpts.outputs)
	},
}

func init() {
	inspectCmd.Flags().BoolVar(&inspectOpts.json, "json", false, "print the report as JSON")
	inspectCmd.Flags().StringSliceVar(&inspectOpts.outputs, "output", nil, "cut the graph at these values (comma-separated or repeated)")
	rootCmd.AddCommand(inspectCmd)
}

// inspectReport is what inspect prints; --json emits it as is.
type inspectReport struct {
	Model           string                   `json:"model"`
	Kind            string                   `json:"kind"` // "ann"; an SNN file's report says "snn"
	Producer        string                   `json:"producer"`
	ProducerVersion string                   `json:"producer_version,omitempty"`
	IRVersion       int64                    `json:"ir_version,omitempty"`
	Opsets          map[string]int64         `json:"opsets,omitempty"`
	Inputs          []inspectValue           `json:"inputs,omitempty"`
	Outputs         []inspectValue           `json:"outputs,omitempty"`
	Warnings        []string                 `json:"warnings,omitempty"`
	Layers          []inspectLayer           `json:"layers,omitempty"`
	TotalParams     int                      `json:"total_params"`
	TotalMACs       int64                    `json:"total_macs"`
	Preflight       []convert.PreflightEntry `json:"preflight,omitempty"`
	Convertible     bool                     `json:"convertible"`
	ImportProblems  []importer.Problem       `json:"import_problems,omitempty"`
	ImportError     string                   `json:"import_error,omitempty"`
	StatusCounts    map[convert.Status]int   `json:"status_counts,omitempty"`
}

// inspectValue is a graph input or output; Shape is per sample.
type inspectValue struct {
	Name       string `json:"name"`
	Shape      []int  `json:"shape"`
	DType      string `json:"dtype,omitempty"`
	FixedBatch int    `json:"fixed_batch,omitempty"`
}

type inspectLayer struct {
	Node   string `json:"node"`
	Op     string `json:"op"`
	Source string `json:"source,omitempty"`
	Shape  []int  `json:"shape"`
	Params int    `json:"params"`
	MACs   int64  `json:"macs"`
}

func runInspect(w io.Writer, path string, asJSON bool, outputs []string) error {
	// One read and one decode: a spiking network (its custom operators are
	// not ONNX the importer knows) is shown as what it is, and what is not
	// one at all goes to the importer, whose errors name the problem.
	b, err := os.ReadFile(path)
	var g *ann.Graph
	if err == nil {
		net, serr := snnrt.Decode(b)
		if !errors.Is(serr, snnrt.ErrNotSNN) {
			if len(outputs) > 0 {
				return usageError(fmt.Errorf("%s: --output cuts ANN models; this is a spiking network", path))
			}
			return inspectSNN(w, path, net, serr, asJSON)
		}
		g, err = importer.Import(b, importer.Options{Name: path, BaseDir: filepath.Dir(path), Outputs: outputs})
	}
	if err != nil {
		if asJSON {
			rep := inspectReport{Model: path, Kind: "ann", ImportError: err.Error()}
			var ie *importer.Error
			if errors.As(err, &ie) {
				rep.ImportProblems = ie.Problems
			}
			if jerr := writeJSON(w, rep); jerr != nil {
				return jerr
			}
		}
		return usageError(err)
	}
	rep := buildInspectReport(path, g)
	if asJSON {
		return writeJSON(w, rep)
	}
	printInspect(w, rep)
	return nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func buildInspectReport(path string, g *ann.Graph) inspectReport {
	rep := inspectReport{
		Model: path, Kind: "ann", Producer: g.Info.Producer, ProducerVersion: g.Info.ProducerVersion,
		IRVersion: g.Info.IRVersion, Opsets: g.Info.Opsets, Warnings: g.Info.Warnings,
		StatusCounts: map[convert.Status]int{},
	}
	for _, v := range g.Inputs {
		rep.Inputs = append(rep.Inputs, inspectValue{Name: v.Name, Shape: v.Shape, DType: v.DType, FixedBatch: v.FixedBatch})
	}
	for _, o := range g.Outputs {
		rep.Outputs = append(rep.Outputs, inspectValue{Name: o, Shape: shapeOrEmpty(g.Shapes[o])})
	}
	macs, total := ann.MACs(g)
	rep.TotalMACs = total
	for _, n := range g.Nodes {
		l := inspectLayer{Node: n.Name, Op: string(n.Op), Source: n.Source, MACs: macs[n.Name]}
		if len(n.Outputs) > 0 {
			l.Shape = shapeOrEmpty(g.Shapes[n.Outputs[0]])
		}
		for _, in := range n.Inputs {
			if p, ok := g.Params[in]; ok {
				l.Params += len(p.Data)
			}
		}
		rep.TotalParams += l.Params
		rep.Layers = append(rep.Layers, l)
	}
	rep.Preflight = convert.Preflight(g)
	rep.Convertible = true
	for _, e := range rep.Preflight {
		rep.StatusCounts[e.Status]++
		if e.Status == convert.Refused {
			rep.Convertible = false
		}
	}
	return rep
}

func shapeOrEmpty(s []int) []int {
	if s == nil {
		return []int{}
	}
	return s
}

func fmtShape(s []int) string {
	parts := make([]string, len(s))
	for i, d := range s {
		parts[i] = fmt.Sprint(d)
	}
	return "[" + strings.Join(parts, ",") + "]"
}

// batchShape writes a per-sample shape with the free batch axis in front.
func batchShape(s []int) string {
	return fmtShape(append([]int{-1}, s...))
}

func printInspect(w io.Writer, r inspectReport) {
	prod := r.Producer
	if r.ProducerVersion != "" {
		prod += " " + r.ProducerVersion
	}
	var opsets []string
	for _, d := range sortedOpsetDomains(r.Opsets) {
		name := d
		if name == "" {
			name = "ai.onnx"
		}
		opsets = append(opsets, fmt.Sprintf("%s %d", name, r.Opsets[d]))
	}
	fmt.Fprintf(w, "Model     %s\nProducer  %s\nIR        %d\nOpsets    %s\n", r.Model, prod, r.IRVersion, strings.Join(opsets, ", "))
	for _, v := range r.Inputs {
		batch := "batch free"
		if v.FixedBatch > 0 {
			batch = fmt.Sprintf("batch free; exported with fixed batch %d", v.FixedBatch)
		}
		fmt.Fprintf(w, "Input     %s %s %s (%s)\n", v.Name, strings.Replace(batchShape(v.Shape), "-1", "N", 1), v.DType, batch)
	}
	for _, v := range r.Outputs {
		fmt.Fprintf(w, "Output    %s %s\n", v.Name, strings.Replace(batchShape(v.Shape), "-1", "N", 1))
	}
	for _, s := range r.Warnings {
		fmt.Fprintf(w, "Warning   %s\n", s)
	}

	fmt.Fprintln(w, "\nLayers")
	t := table.NewWriter()
	t.SetOutputMirror(w)
	t.SetStyle(table.StyleLight)
	t.AppendHeader(table.Row{"#", "Node", "Op", "ONNX", "Output (per sample)", "Params", "MACs"})
	for i, l := range r.Layers {
		src := l.Source
		if src == l.Op {
			src = ""
		}
		t.AppendRow(table.Row{i + 1, l.Node, l.Op, src, fmtShape(l.Shape), l.Params, l.MACs})
	}
	t.AppendFooter(table.Row{"", "", "", "", "total", r.TotalParams, r.TotalMACs})
	t.Render()

	fmt.Fprintln(w, "\nConversion pre-flight")
	p := table.NewWriter()
	p.SetOutputMirror(w)
	p.SetStyle(table.StyleLight)
	p.AppendHeader(table.Row{"Node", "Op", "Status", "Detail", "Hint"})
	for _, e := range r.Preflight {
		node := e.Node
		if node == "" {
			node = "(graph)"
		}
		p.AppendRow(table.Row{node, e.Op, string(e.Status), e.Detail, e.Hint})
	}
	p.SetColumnConfigs([]table.ColumnConfig{{Number: 4, WidthMax: 60, WidthMaxEnforcer: text.WrapSoft}, {Number: 5, WidthMax: 50, WidthMaxEnforcer: text.WrapSoft}})
	p.Render()
	verdict := "convertible"
	if !r.Convertible {
		verdict = "NOT convertible"
	}
	fmt.Fprintf(w, "%d supported, %d rewritten, %d refused: %s\n",
		r.StatusCounts[convert.Supported], r.StatusCounts[convert.Rewritten], r.StatusCounts[convert.Refused], verdict)
}

func sortedOpsetDomains(m map[string]int64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// snnInspectReport is what inspect prints for an SNN file; --json emits it.
type snnInspectReport struct {
	Model            string              `json:"model"`
	Kind             string              `json:"kind"`
	Name             string              `json:"name"`
	SemanticsVersion int                 `json:"semantics_version"`
	Encoding         snnrt.Encoding      `json:"encoding"`
	TimestepsHint    int                 `json:"timesteps_hint,omitempty"`
	SourceName       string              `json:"source_name,omitempty"`
	SourceSHA256     string              `json:"source_sha256,omitempty"`
	Normalization    snnrt.Normalization `json:"normalization"`
	StrippedHead     []string            `json:"stripped_head,omitempty"`
	Metadata         map[string]string   `json:"metadata,omitempty"`
	Input            inspectValue        `json:"input"`
	Output           string              `json:"output"`
	Layers           []snnrt.LayerInfo   `json:"layers"`
	TotalParams      int                 `json:"total_params"`
	TotalANNMACs     int64               `json:"total_ann_macs"`
	Neurons          int                 `json:"if_neurons"`
	SpikingMaxPools  []string            `json:"spiking_max_pools,omitempty"`
	ImportError      string              `json:"import_error,omitempty"`
}

// inspectSNN reports net, or err, Decode's reason for refusing the file.
func inspectSNN(w io.Writer, path string, net *snnrt.Network, err error, asJSON bool) error {
	if err != nil {
		err = fmt.Errorf("%s: %w", path, err)
		if asJSON {
			if jerr := writeJSON(w, snnInspectReport{Model: path, Kind: "snn", ImportError: err.Error()}); jerr != nil {
				return jerr
			}
		}
		return usageError(err)
	}
	m := net.Meta
	rep := snnInspectReport{
		Model: path, Kind: "snn", Name: net.Name, SemanticsVersion: m.SemanticsVersion, Encoding: m.Encoding,
		TimestepsHint: m.TimestepsHint, SourceName: m.SourceName, SourceSHA256: m.SourceSHA256,
		Normalization: m.Normalization, StrippedHead: m.StrippedHead, Metadata: m.Extra,
		Input: inspectValue{Name: net.Input, Shape: net.InputShape}, Output: net.Output,
		Layers: net.Layers(), SpikingMaxPools: net.SpikingMaxPools(m.Encoding),
	}
	for _, l := range rep.Layers {
		rep.TotalParams += l.Params
		rep.TotalANNMACs += l.ANNMACs
		if l.IF != nil {
			rep.Neurons += l.IF.Neurons
		}
	}
	if asJSON {
		return writeJSON(w, rep)
	}
	printSNNInspect(w, rep)
	return nil
}

func printSNNInspect(w io.Writer, r snnInspectReport) {
	fmt.Fprintf(w, "SNN file   %s\n", r.Model)
	fmt.Fprintf(w, "Network    %s: semantics v%d, encoding %s", r.Name, r.SemanticsVersion, r.Encoding)
	if r.TimestepsHint > 0 {
		fmt.Fprintf(w, ", timesteps hint %d", r.TimestepsHint)
	}
	fmt.Fprintln(w)
	if r.SourceName != "" || r.SourceSHA256 != "" {
		fmt.Fprintf(w, "Source     %s (sha256 %s)\n", r.SourceName, r.SourceSHA256)
	}
	if n := r.Normalization; n.Method != "" {
		desc := n.Method
		if n.Percentile > 0 {
			desc += fmt.Sprintf(", percentile %g", n.Percentile)
		}
		if n.CalibSet != "" {
			desc += fmt.Sprintf(", calibrated on %s (%d samples)", n.CalibSet, n.CalibCount)
		}
		if n.ScaleInto != "" {
			desc += ", scaled into " + n.ScaleInto
		}
		fmt.Fprintf(w, "Normalised %s\n", desc)
	}
	if len(r.StrippedHead) > 0 {
		fmt.Fprintf(w, "Head       stripped %s (the readout is the value before it)\n", strings.Join(r.StrippedHead, ", "))
	}
	fmt.Fprintf(w, "Input      %s %s\n", r.Input.Name, strings.Replace(batchShape(r.Input.Shape), "-1", "N", 1))
	fmt.Fprintf(w, "Output     %s, integrated over the steps (its argmax is the prediction)\n", r.Output)
	keys := make([]string, 0, len(r.Metadata))
	for k := range r.Metadata {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "Metadata   %s = %s\n", k, r.Metadata[k])
	}

	fmt.Fprintln(w, "\nLayers")
	t := table.NewWriter()
	t.SetOutputMirror(w)
	t.SetStyle(table.StyleLight)
	t.AppendHeader(table.Row{"#", "Node", "Op", "Output (per sample)", "Params", "ANN MACs", "IF neurons", "θ", "Reset", "v_init (θ)"})
	for i, l := range r.Layers {
		row := table.Row{i + 1, l.Name, string(l.Op), fmtShape(l.Shape), l.Params, l.ANNMACs, "", "", "", ""}
		if f := l.IF; f != nil {
			th := fmt.Sprintf("%.4g", f.ThresholdMin)
			if f.ThresholdMax != f.ThresholdMin {
				th = fmt.Sprintf("%.4g–%.4g (%d)", f.ThresholdMin, f.ThresholdMax, f.Thresholds)
			}
			row[6], row[7], row[8], row[9] = f.Neurons, th, string(f.Reset), fmt.Sprintf("%g", f.VInit)
		}
		t.AppendRow(row)
	}
	t.AppendFooter(table.Row{"", "", "", "total", r.TotalParams, r.TotalANNMACs, r.Neurons, "", "", ""})
	t.Render()
	if len(r.SpikingMaxPools) > 0 {
		fmt.Fprintf(w, "Max pools on spikes under %s input (DESIGN §2's rule, an approximation of the ANN's max): %s\n",
			r.Encoding, strings.Join(r.SpikingMaxPools, ", "))
	}
}
