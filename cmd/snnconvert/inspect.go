package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/jedib0t/go-pretty/v6/table"
	"github.com/jedib0t/go-pretty/v6/text"
	"github.com/spf13/cobra"

	"github.com/snnconvert/snnconvert/ann"
	"github.com/snnconvert/snnconvert/convert"
	"github.com/snnconvert/snnconvert/importer"
)

var inspectOpts struct {
	json    bool
	outputs []string
}

var inspectCmd = &cobra.Command{
	Use:   "inspect MODEL.onnx",
	Short: "Show a model's header, layers and a conversion pre-flight report",
	Long: `inspect imports an ONNX model and prints its producer, IR version, opsets,
inputs and outputs, a per-layer table (op, output shape, parameters, MACs per
image) and a conversion pre-flight report that marks every node supported,
rewritten (and how) or refused (why, and what to change in the source model).

A model the importer cannot read is reported with every offending node at
once. --output cuts the graph at the named values first (for graphs that also
compute metrics or post-processing).

Exit codes: 0 the model was inspected (convertible or not; see the report),
2 the model could not be imported.`,
	Example: `  snnconvert inspect models/lenet5.onnx
  snnconvert inspect model.onnx --json
  snnconvert inspect metric_graph.onnx --output y:0`,
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
	g, err := importer.ImportFileWith(path, importer.Options{Outputs: outputs})
	if err != nil {
		if asJSON {
			rep := inspectReport{Model: path, ImportError: err.Error()}
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
		Model: path, Producer: g.Info.Producer, ProducerVersion: g.Info.ProducerVersion,
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
