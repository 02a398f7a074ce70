package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/jedib0t/go-pretty/v6/table"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/snnconvert/snnconvert/eval"
	"github.com/snnconvert/snnconvert/eval/ci"
)

// ciEvaluator runs the evaluations of check and batch; tests swap in a double.
var ciEvaluator ci.Evaluator = eval.Evaluate

// checkOptions are check's flags.
type checkOptions struct {
	baseline      string
	writeBaseline string
	tolerance     float64
	confidence    float64
	junit         string
	jsonOut       string
	dataLimit     int
	batch         int
	// --write-baseline only.
	models     []string
	data       string
	ts         []int
	norm       string
	percentile float64
	reset      string
	vinit      float64
	encoding   string
	calib      string
	seed       int64
	auto       bool
	targetT    int
}

var checkOpts checkOptions

var checkCmd = &cobra.Command{
	Use:   "check --baseline FILE | --write-baseline FILE --model M.onnx [--model ...]",
	Short: "Gate SNN accuracy against a baseline (exit 1 on a regression)",
	Long: `check re-runs the evaluations a baseline file lists and judges each model's
SNN accuracy at each gated T.

Rule: a case fails when the one-sided Wilson score upper bound (at
--confidence, default 0.95) of the observed accuracy is below the baseline
accuracy minus the tolerance (--tolerance percentage points, default from the
baseline, else 0.5). A small test set therefore fails only on a drop its size
can resolve: on 1000 images with a 99.0 % baseline and 0.5 pp tolerance, 978
correct fails (upper bound 98.44 %) and 979 passes (98.53 %).

Exit codes: 0 every case passed, 1 an accuracy regression, 2 bad input (missing
or malformed baseline, unknown field, a model that cannot be evaluated).

--write-baseline FILE evaluates the given models (--data, -T and conversion
flags) and writes a baseline that gates every T at the accuracy reached;
model paths are stored relative to FILE.`,
	Example: `  snnconvert check --baseline models/baseline.json --junit junit.xml
  snnconvert check --write-baseline models/baseline.json --model models/lenet5.onnx --model models/mlp.onnx --data mnist:test:1000 -T 32,64`,
	Args: cobra.NoArgs,
	RunE: func(cmd *cobra.Command, _ []string) error {
		return runCheck(cmd.Context(), cmd.OutOrStdout(), cmd.Flags(), &checkOpts, ciEvaluator)
	},
}

func init() {
	addCheckFlags(checkCmd.Flags(), &checkOpts)
	rootCmd.AddCommand(checkCmd)
}

func addCheckFlags(f *pflag.FlagSet, o *checkOptions) {
	f.StringVar(&o.baseline, "baseline", "", "baseline file to check against")
	f.StringVar(&o.writeBaseline, "write-baseline", "", "evaluate --model ... and write this baseline file")
	f.Float64Var(&o.tolerance, "tolerance", 0, "allowed drop below the baseline in percentage points (default: the baseline's, else 0.5)")
	f.Float64Var(&o.confidence, "confidence", 0, "one-sided confidence of the Wilson bound (default: the baseline's, else 0.95)")
	f.StringVar(&o.junit, "junit", "", "write JUnit XML (one testcase per model × T) to this file")
	f.StringVar(&o.jsonOut, "json", "", "write the full check result as JSON to this file")
	f.IntVar(&o.dataLimit, "data-limit", 0, "evaluate at most N samples of each data set (mnist:/cifar10: specs)")
	f.IntVar(&o.batch, "batch", 0, "simulation batch size (0: default)")
	f.StringArrayVar(&o.models, "model", nil, "model to record (--write-baseline; repeatable)")
	f.StringVar(&o.data, "data", "mnist:test:1000", "data set to record on (--write-baseline)")
	f.IntSliceVarP(&o.ts, "timesteps", "T", []int{32, 64}, "timesteps to gate (--write-baseline)")
	f.StringVar(&o.norm, "norm", "", "normalization: channel (default), percentile or max (--write-baseline)")
	f.Float64Var(&o.percentile, "percentile", 0, "normalization percentile (default 99.99) (--write-baseline)")
	f.StringVar(&o.reset, "reset", "", "reset: subtract (default), zero (--write-baseline)")
	f.Float64Var(&o.vinit, "v-init", 0.5, "initial membrane potential as a fraction of the threshold (--write-baseline)")
	f.StringVar(&o.encoding, "encoding", "", "input encoding: analog (default), rate, poisson (--write-baseline)")
	f.StringVar(&o.calib, "calib", "", "calibration data set (default mnist:train:1000) (--write-baseline)")
	f.Int64Var(&o.seed, "seed", 0, "seed of every random choice (--write-baseline)")
	f.BoolVar(&o.auto, "auto", false, "search the normalization on held-apart calibration data (--write-baseline)")
	f.IntVar(&o.targetT, "target-T", 0, "--auto target T (default 32) (--write-baseline)")
}

// recordOnly are the flags that only --write-baseline reads.
var recordOnly = []string{"model", "data", "timesteps", "norm", "percentile", "reset", "v-init", "encoding", "calib", "seed", "auto", "target-T"}

func runCheck(ctx context.Context, stdout io.Writer, flags *pflag.FlagSet, o *checkOptions, evaluate ci.Evaluator) error {
	switch {
	case o.baseline != "" && o.writeBaseline != "":
		return usageError(errors.New("check: give --baseline or --write-baseline, not both"))
	case o.writeBaseline != "":
		return recordBaseline(ctx, stdout, flags, o, evaluate)
	case o.baseline == "":
		return usageError(errors.New("check: --baseline FILE is required (or --write-baseline FILE to create one)"))
	}
	for _, name := range recordOnly {
		if flags.Changed(name) {
			return usageError(fmt.Errorf("check: --%s applies to --write-baseline; a check re-runs what the baseline lists", name))
		}
	}
	b, err := ci.ReadBaseline(o.baseline)
	if err != nil {
		return usageError(err)
	}
	prog := &ciProgress{}
	opt := ci.Options{DataLimit: o.dataLimit, Batch: o.batch, Progress: prog}
	if flags.Changed("tolerance") {
		opt.TolerancePP = &o.tolerance
	}
	if flags.Changed("confidence") {
		opt.Confidence = ci.Confidence(o.confidence)
	}
	opt.OnModel = func(i, n int, name string) { prog.prefix = fmt.Sprintf("[%d/%d] %s", i+1, n, name) }
	rep, err := ci.Check(ctx, o.baseline, b, opt, evaluate)
	if err != nil {
		return usageError(fmt.Errorf("check: %w", err))
	}
	if err := writeCheckOutputs(rep, o); err != nil {
		return usageError(err)
	}
	fmt.Fprint(stdout, checkTable(rep))
	for _, w := range rep.Warnings {
		fmt.Fprintln(stdout, "warning:", w)
	}
	fmt.Fprintf(stdout, "rule: %s\n", rep.Rule)
	switch {
	case rep.Errors > 0:
		return usageError(fmt.Errorf("check: %d of %d cases could not be evaluated", rep.Errors, len(rep.Cases)))
	case rep.Failed > 0:
		return checkFailed(fmt.Errorf("check: %d of %d cases fell below their baseline", rep.Failed, len(rep.Cases)))
	}
	fmt.Fprintf(stdout, "check passed: %d cases\n", rep.Passed)
	return nil
}

func writeCheckOutputs(rep *ci.Report, o *checkOptions) error {
	if o.junit != "" {
		var b bytes.Buffer
		if err := ci.WriteJUnit(&b, rep); err != nil {
			return err
		}
		if err := ci.WriteFileAtomic(o.junit, b.Bytes()); err != nil {
			return fmt.Errorf("--junit: %w", err)
		}
	}
	if o.jsonOut != "" {
		b, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return fmt.Errorf("--json: %w", err)
		}
		if err := ci.WriteFileAtomic(o.jsonOut, append(b, '\n')); err != nil {
			return fmt.Errorf("--json: %w", err)
		}
	}
	return nil
}

func checkTable(rep *ci.Report) string {
	t := table.NewWriter()
	t.AppendHeader(table.Row{"Model", "T", "Baseline", "Observed", "Correct", "Wilson upper", "Threshold", "Verdict"})
	for _, c := range rep.Cases {
		if c.Status == ci.StatusError {
			t.AppendRow(table.Row{c.Model, c.T, pctCell(c.Baseline), "—", "—", "—", pctCell(c.Threshold), "ERROR"})
			continue
		}
		verdict := "pass"
		if c.Status == ci.StatusFail {
			verdict = "FAIL"
		}
		t.AppendRow(table.Row{c.Model, c.T, pctCell(c.Baseline), pctCell(c.Accuracy), fmt.Sprintf("%d/%d", c.Correct, c.N), pctCell(c.Upper), pctCell(c.Threshold), verdict})
	}
	out := t.Render() + "\n"
	for _, c := range rep.Cases {
		if c.Status == ci.StatusError {
			out += c.Message + "\n"
		}
	}
	return out
}

func pctCell(x float64) string { return strconv.FormatFloat(100*x, 'f', 2, 64) + "%" }

func recordBaseline(ctx context.Context, stdout io.Writer, flags *pflag.FlagSet, o *checkOptions, evaluate ci.Evaluator) error {
	if len(o.models) == 0 {
		return usageError(errors.New("check --write-baseline: give at least one --model"))
	}
	if o.dataLimit > 0 {
		return usageError(errors.New("check --write-baseline: put the sample count in --data (e.g. mnist:test:1000)"))
	}
	s := eval.Settings{
		Norm: o.norm, Percentile: o.percentile, Reset: o.reset, Encoding: o.encoding,
		Calib: o.calib, Seed: o.seed, Auto: o.auto, TargetT: o.targetT,
	}
	if flags.Changed("v-init") {
		v := o.vinit
		s.VInit = &v
	}
	if err := ci.ValidateSettings(s); err != nil {
		return usageError(fmt.Errorf("check --write-baseline: %w", err))
	}
	b := &ci.Baseline{Version: ci.BaselineVersion}
	if flags.Changed("tolerance") {
		if o.tolerance < 0 {
			return usageError(fmt.Errorf("check --write-baseline: --tolerance %v: must not be negative", o.tolerance))
		}
		b.TolerancePP = o.tolerance
	}
	if flags.Changed("confidence") {
		b.Confidence = ci.Confidence(o.confidence)
		if err := b.Confidence.Validate(); err != nil {
			return usageError(fmt.Errorf("check --write-baseline: %w", err))
		}
	}
	prog := &ciProgress{}
	for i, m := range o.models {
		name := strings.TrimSuffix(strings.TrimSuffix(filepath.Base(m), ".onnx"), ".snn")
		prog.prefix = fmt.Sprintf("[%d/%d] %s", i+1, len(o.models), name)
		r, err := evaluate(ctx, eval.Options{Model: m, Data: o.data, Ts: o.ts, Settings: s, Batch: o.batch, Progress: prog})
		if err != nil {
			if ctx.Err() != nil {
				return usageError(ctx.Err())
			}
			return usageError(fmt.Errorf("check --write-baseline: %s: %w", m, err))
		}
		rec, err := ci.Record(name, ci.RelativeTo(o.writeBaseline, m), "", r)
		if err != nil {
			return usageError(err)
		}
		b.Models = append(b.Models, rec)
	}
	if err := ci.WriteBaseline(o.writeBaseline, b); err != nil {
		return usageError(err)
	}
	t := table.NewWriter()
	t.AppendHeader(table.Row{"Model", "Data", "ANN", "T", "SNN accuracy (gate)"})
	for _, m := range b.Models {
		for _, g := range m.Gates {
			t.AppendRow(table.Row{m.Name, m.Data, pctCell(m.ANNAccuracy), g.T, pctCell(g.Accuracy)})
		}
	}
	fmt.Fprintln(stdout, t.Render())
	fmt.Fprintf(stdout, "wrote %s: %d models\n", o.writeBaseline, len(b.Models))
	return nil
}

// ciProgress shows eval's stages as progress bars on stderr, one bar per
// stage, labelled with the model being evaluated.
type ciProgress struct {
	prefix string
	bar    *progressbar.ProgressBar
}

func (p *ciProgress) Stage(name string, total int) {
	p.Done()
	desc := name
	if p.prefix != "" {
		desc = p.prefix + " " + name
	}
	p.bar = newProgress(total, desc)
}

func (p *ciProgress) Add(n int) {
	if p.bar != nil {
		_ = p.bar.Add(n)
	}
}

func (p *ciProgress) Done() {
	if p.bar != nil {
		_ = p.bar.Finish()
		p.bar = nil
	}
}
