package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/jedib0t/go-pretty/v6/table"
	"github.com/spf13/cobra"

	"github.com/snnconvert/snnconvert/ann"
	"github.com/snnconvert/snnconvert/convert"
	"github.com/snnconvert/snnconvert/eval/dataset"
	"github.com/snnconvert/snnconvert/importer"
	"github.com/snnconvert/snnconvert/normalize"
	"github.com/snnconvert/snnconvert/snnrt"
)

// convertFlags are convert's flags.
type convertFlags struct {
	out        string
	calib      string
	norm       string
	percentile float64
	reset      string
	vinit      float64
	encoding   string
	scaleInto  string
	input      string
	output     string
	dumpAfter  []string
	disable    []string
	preprocess string
	jsonOut    bool
}

var convertOpts convertFlags

var convertCmd = &cobra.Command{
	Use:   "convert MODEL.onnx -o MODEL.snn.onnx",
	Short: "Convert an ONNX ReLU network into an integrate-and-fire SNN file",
	Long: `convert imports MODEL.onnx, rewrites it into canonical form (the passes are
listed below), calibrates activation scales on --calib and writes the SNN as
one ONNX file (DESIGN §3) that Netron and onnx.checker open.

The model's input preprocessing comes from models/MANIFEST.json next to the
model or the built-in table of shared-corpus models; for any other model pass
--preprocess (JSON, or layout=NCHW,scale=1/255,mean=0.1307,std=0.3081).

Passes:
` + passHelp() + `
Exit codes: 0 written, 1 the model cannot be converted (reasons listed),
2 usage or input error.`,
	Example: `  snnconvert convert models/lenet5.onnx -o lenet5.snn.onnx
  snnconvert convert model.onnx -o m.snn.onnx --norm channel --percentile 99.9 --calib mnist:train:2000
  snnconvert convert model.onnx -o m.snn.onnx --dump-after fold-batchnorm --preprocess scale=1/255`,
	Args: cobra.ExactArgs(1),
	RunE: func(cmd *cobra.Command, args []string) error {
		return runConvert(cmd.OutOrStdout(), args[0], &convertOpts)
	},
}

func passHelp() string {
	var b strings.Builder
	for _, p := range convert.Passes() {
		fmt.Fprintf(&b, "  %-18s %s\n", p.Name, p.Doc)
	}
	return b.String()
}

func init() {
	f := convertCmd.Flags()
	o := &convertOpts
	f.StringVarP(&o.out, "output-file", "o", "", "the SNN file to write (*.snn.onnx)")
	f.StringVar(&o.calib, "calib", "", "calibration data set (default mnist:train:1000; cifar10:calib499 for 3x32x32 inputs)")
	f.StringVar(&o.norm, "norm", string(normalize.DefaultMethod), "normalisation: channel, percentile or max")
	f.Float64Var(&o.percentile, "percentile", normalize.DefaultPercentile, "percentile for --norm percentile and channel")
	f.StringVar(&o.reset, "reset", "subtract", "membrane reset after a spike: subtract or zero")
	f.Float64Var(&o.vinit, "v-init", convert.DefaultVInit, "initial membrane potential as a fraction of the threshold")
	f.StringVar(&o.encoding, "encoding", "analog", "input encoding the file is made for: analog (a max pool of the first layer's constant current is then taken exactly; under rate or poisson input the runtime fires that layer before the pool instead), rate or poisson")
	f.StringVar(&o.scaleInto, "scale-into", "thresholds", "put activation scales into thresholds (θ = λ) or weights (θ = 1)")
	f.StringVar(&o.input, "input", "", "graph input to use when the model has several")
	f.StringVar(&o.output, "output", "", "value to use as the class scores when the model has several outputs")
	f.StringSliceVar(&o.dumpAfter, "dump-after", nil, "print the canonical graph after these passes")
	f.StringSliceVar(&o.disable, "disable", nil, "skip these passes")
	f.StringVar(&o.preprocess, "preprocess", "", "input preprocessing for models in no manifest (JSON or key=value list)")
	f.BoolVar(&o.jsonOut, "json", false, "print the conversion report as JSON")
	rootCmd.AddCommand(convertCmd)
}

// convertResult is what --json prints.
type convertResult struct {
	Model         string                `json:"model"`
	ModelSHA256   string                `json:"model_sha256"`
	Output        string                `json:"output"`
	Preprocessing dataset.Preprocessing `json:"preprocessing"`
	Report        *convert.Report       `json:"report"`
	Refusals      []convert.Refusal     `json:"refusals,omitempty"`
}

func runConvert(w io.Writer, model string, o *convertFlags) error {
	if o.out == "" {
		return usageError(errors.New("convert: -o MODEL.snn.onnx is required"))
	}
	opt, err := convertOptions(o)
	if err != nil {
		return usageError(err)
	}
	raw, err := os.ReadFile(model)
	if err != nil {
		return usageError(err)
	}
	sum := sha256.Sum256(raw)
	var imp importer.Options
	if o.output != "" {
		imp.Outputs = []string{o.output}
	}
	g, err := importer.ImportFileWith(model, imp)
	if err != nil {
		return usageError(err)
	}
	pre, err := preprocessingFor(model, o.preprocess)
	if err != nil {
		return usageError(err)
	}
	spec := o.calib
	if spec == "" {
		spec = "mnist:train:1000"
		if len(g.Inputs) > 0 && ann.Numel(g.Inputs[0].Shape) == 3*32*32 {
			spec = "cifar10:calib499"
		}
	}
	// Refuse before loading data: a refusal needs no calibration.
	if rs := convert.Refusals(g); len(rs) > 0 && o.input == "" && o.output == "" {
		return reportRefusal(w, o, model, &convert.RefusalError{Model: model, Refusals: rs})
	}
	calib, err := dataset.Load(spec, pre)
	if err != nil {
		return usageError(err)
	}
	bar := newProgress(calib.Len(), "calibrating")
	opt.Calib, opt.CalibName = calib, spec
	opt.Progress = func(done, total int) { _ = bar.Set(done) }
	opt.SourceName, opt.SourceSHA256 = filepath.Base(model), hex.EncodeToString(sum[:])
	pj, _ := json.Marshal(pre)
	opt.Extra = map[string]string{"snn.preprocessing": string(pj)}

	net, rep, err := convert.Convert(g, opt)
	_ = bar.Finish()
	var re *convert.RefusalError
	if errors.As(err, &re) {
		return reportRefusal(w, o, model, re)
	}
	if err != nil {
		return usageError(err)
	}
	if rep.InputPermutation != nil {
		// The SNN's input is channel-first; its preprocessing says so.
		if pre.Layout == dataset.LayoutNHWC {
			pre.Layout = dataset.LayoutNCHW
		}
		pre.Shape = append([]int(nil), net.InputShape...)
		pj, _ = json.Marshal(pre)
		net.Meta.Extra["snn.preprocessing"] = string(pj)
	}
	if err := snnrt.Write(o.out, net); err != nil {
		return usageError(fmt.Errorf("writing %s: %w", o.out, err))
	}
	if o.jsonOut {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(convertResult{Model: model, ModelSHA256: opt.SourceSHA256, Output: o.out, Preprocessing: pre, Report: rep})
	}
	for _, l := range rep.Passes {
		if l.Dump != "" {
			fmt.Fprintf(w, "── graph after %s ──\n%s\n", l.Pass, l.Dump)
		}
	}
	printConvertSummary(w, model, o.out, net, rep)
	return nil
}

func reportRefusal(w io.Writer, o *convertFlags, model string, re *convert.RefusalError) error {
	if o.jsonOut {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(convertResult{Model: model, Refusals: re.Refusals})
	}
	return checkFailed(re)
}

func convertOptions(o *convertFlags) (convert.Options, error) {
	var opt convert.Options
	var err error
	if opt.Norm, err = normalize.ParseMethod(o.norm); err != nil {
		return opt, err
	}
	if o.percentile <= 0 || o.percentile > 100 {
		return opt, fmt.Errorf("--percentile %v: want 0 < P ≤ 100", o.percentile)
	}
	opt.Percentile = o.percentile
	if opt.Reset, err = snnrt.ParseResetMode(o.reset); err != nil {
		return opt, err
	}
	if o.vinit < 0 || o.vinit > 1 {
		return opt, fmt.Errorf("--v-init %v: want a fraction of the threshold in [0, 1]", o.vinit)
	}
	v := float32(o.vinit)
	opt.VInit = &v
	if opt.Encoding, err = snnrt.ParseEncoding(o.encoding); err != nil {
		return opt, err
	}
	if opt.ScaleInto, err = convert.ParseScaleInto(o.scaleInto); err != nil {
		return opt, err
	}
	opt.Input, opt.Output = o.input, o.output
	opt.DumpAfter, opt.Disable = o.dumpAfter, o.disable
	known := map[string]bool{}
	for _, n := range convert.PassNames() {
		known[n] = true
	}
	for _, p := range append(append([]string(nil), o.dumpAfter...), o.disable...) {
		if !known[p] {
			return opt, fmt.Errorf("unknown pass %q (passes: %s)", p, strings.Join(convert.PassNames(), ", "))
		}
	}
	return opt, nil
}

// preprocessingFor takes --preprocess, else the manifests; never a guess.
func preprocessingFor(model, flag string) (dataset.Preprocessing, error) {
	if flag != "" {
		return dataset.ParsePreprocessing(flag)
	}
	if p, ok := dataset.PreprocessingFor(model); ok {
		return p, nil
	}
	return dataset.Preprocessing{}, fmt.Errorf("%s: its input preprocessing is unknown (no models/MANIFEST.json entry, not a shared-corpus model); pass --preprocess, e.g. --preprocess layout=NCHW,scale=1/255", model)
}

func printConvertSummary(w io.Writer, model, out string, net *snnrt.Network, rep *convert.Report) {
	t := table.NewWriter()
	t.SetOutputMirror(w)
	t.SetTitle(fmt.Sprintf("%s → %s", filepath.Base(model), out))
	t.AppendHeader(table.Row{"Node", "Op", "Shape", "Neurons", "θ", "λ (activation scale)"})
	for _, l := range rep.Nodes {
		th, sc, nn := "", "", ""
		if l.Op == string(snnrt.OpIF) {
			th, sc, nn = rangeCell(l.ThetaMin, l.ThetaMax), rangeCell(l.ScaleMin, l.ScaleMax), fmt.Sprint(l.Neurons)
		}
		t.AppendRow(table.Row{l.Node, l.Op, fmt.Sprint(l.Shape), nn, th, sc})
	}
	t.AppendFooter(table.Row{"", "", "total", rep.Neurons, "", ""})
	t.Render()
	n := rep.Normalization
	pct := ""
	if n.Percentile > 0 {
		pct = fmt.Sprintf(" p%g", n.Percentile)
	}
	fmt.Fprintf(w, "normalisation: %s%s on %s (%d samples, sha256 %.12s…), scales into %s; reset %s, encoding %s\n",
		n.Method, pct, n.CalibSet, n.CalibCount, n.CalibSHA256, n.ScaleInto, firstReset(net), net.Meta.Encoding)
	fmt.Fprintf(w, "converted in %v (calibration %v)\n", rep.Duration.Round(1e6), rep.CalibDuration.Round(1e6))
	if len(rep.StrippedHead) > 0 {
		fmt.Fprintf(w, "stripped output head: %s\n", strings.Join(rep.StrippedHead, ", "))
	}
	fmt.Fprintln(w, "passes:")
	for _, l := range rep.Passes {
		switch {
		case l.Skipped:
			fmt.Fprintf(w, "  %-18s (disabled)\n", l.Pass)
		case len(l.Changes) == 0:
			fmt.Fprintf(w, "  %-18s -\n", l.Pass)
		default:
			for i, c := range l.Changes {
				name := ""
				if i == 0 {
					name = l.Pass
				}
				fmt.Fprintf(w, "  %-18s %s\n", name, c)
			}
		}
	}
	for _, warn := range rep.Warnings {
		fmt.Fprintf(w, "warning: %s\n", warn)
	}
}

func rangeCell(lo, hi float32) string {
	if lo == hi {
		return fmt.Sprintf("%.4g", lo)
	}
	return fmt.Sprintf("%.4g … %.4g", lo, hi)
}

func firstReset(net *snnrt.Network) snnrt.ResetMode {
	for _, n := range net.Nodes {
		if n.Op == snnrt.OpIF {
			return n.Reset
		}
	}
	return snnrt.ResetSubtract
}
