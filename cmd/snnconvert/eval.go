package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/snnconvert/snnconvert/eval"
	"github.com/snnconvert/snnconvert/eval/dataset"
)

// evalFlags are the flags of `snnconvert eval`.
type evalFlags struct {
	data       string
	ts         []int
	calib      string
	norm       string
	percentile float64
	reset      string
	vInit      float64
	encoding   string
	seed       int64
	auto       bool
	targetT    int
	source     string
	jsonOut    string
	reportDir  string
	batch      int
	reference  bool
	preprocess string
}

var evalOpts evalFlags

var evalCmd = &cobra.Command{
	Use:   "eval MODEL.onnx|MODEL.snn.onnx --data SPEC",
	Short: "Convert a model, run ANN and SNN on a data set and report how close they are",
	Long: `eval converts MODEL.onnx with the given settings (or reads an already converted
MODEL.snn.onnx, whose source model --source names), runs the source ANN and the
SNN once up to the largest T on the data set, and reports ANN accuracy, SNN
accuracy, gap and agreement at each T, the smallest T within 0.1 pp / 1 pp of
the ANN, per-layer correlation and firing rates, operation counts, an energy
estimate and the simulation speed. Where the gorgonia reference supports the
model, it re-runs the source on up to 1000 samples and the report says whether
it agrees with snnconvert's own ANN executor.

Data sets: mnist:test[:N], mnist:train[:N], npz:PATH, idx:IMAGES,LABELS,
cifar10:eran100, cifar10:calib499[:N].

--auto searches the normalisation percentile and per-layer vs per-channel
thresholds on a held-apart slice of the calibration data, maximising agreement
with the ANN at --target-T, then evaluates the choice on --data.`,
	Example: `  snnconvert eval models/lenet5.onnx --data mnist:test -T 8,16,32,64,128
  snnconvert eval models/cnn_bn.onnx --data mnist:test:2000 --auto --report out/cnn_bn
  snnconvert eval lenet5.snn.onnx --source models/lenet5.onnx --data mnist:test --json lenet5.json`,
	Args: cobra.ExactArgs(1),
	RunE: runEval,
}

func init() {
	f := evalCmd.Flags()
	f.StringVar(&evalOpts.data, "data", "", "data set to evaluate on, e.g. mnist:test or mnist:test:1000 (required)")
	f.IntSliceVarP(&evalOpts.ts, "timesteps", "T", eval.DefaultTs, "timestep counts to report (the SNN runs once to the largest)")
	f.StringVar(&evalOpts.calib, "calib", "", "calibration data set (default mnist:train:1000)")
	f.StringVar(&evalOpts.norm, "norm", "", "threshold normalisation: channel, percentile or max (default channel)")
	f.Float64Var(&evalOpts.percentile, "percentile", 0, "activation percentile for percentile/channel normalisation (default 99.99)")
	f.StringVar(&evalOpts.reset, "reset", "", "membrane reset after a spike: subtract or zero (default subtract)")
	f.Float64Var(&evalOpts.vInit, "v-init", 0.5, "initial membrane potential as a fraction of the threshold")
	f.StringVar(&evalOpts.encoding, "encoding", "", "input encoding: analog, rate or poisson (default analog)")
	f.Int64Var(&evalOpts.seed, "seed", 0, "seed of every random choice (poisson encoding)")
	f.BoolVar(&evalOpts.auto, "auto", false, "search percentile and per-layer/per-channel thresholds on held-apart calibration data")
	f.IntVar(&evalOpts.targetT, "target-T", 32, "timestep count --auto optimises agreement at")
	f.StringVar(&evalOpts.source, "source", "", "source ONNX model of a *.snn.onnx MODEL")
	f.StringVar(&evalOpts.jsonOut, "json", "", "write the full result as JSON to this file")
	f.StringVar(&evalOpts.reportDir, "report", "", "write report.md, report.html and SVG plots into this directory")
	f.IntVar(&evalOpts.batch, "batch", 0, "simulation batch size (default: the runtime's)")
	f.BoolVar(&evalOpts.reference, "reference", true, "cross-check the ANN executor with the gorgonia reference on up to 1000 samples where it supports the model (--reference=false skips it)")
	f.StringVar(&evalOpts.preprocess, "preprocess", "", "input preprocessing for models in no manifest (JSON or key=value list, as for convert)")
	rootCmd.AddCommand(evalCmd)
}

// stageBar shows each eval stage as its own progress bar on stderr.
type stageBar struct{ bar *progressbar.ProgressBar }

func (s *stageBar) Stage(name string, total int) {
	s.Done()
	s.bar = newProgress(total, name)
}

func (s *stageBar) Add(n int) {
	if s.bar != nil {
		_ = s.bar.Add(n)
	}
}

func (s *stageBar) Done() {
	if s.bar != nil {
		_ = s.bar.Finish()
		s.bar = nil
	}
}

func runEval(cmd *cobra.Command, args []string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	return evalMain(ctx, cmd.OutOrStdout(), cmd.ErrOrStderr(), cmd.Flags().Changed, args[0], evalOpts,
		"snnconvert "+strings.Join(os.Args[1:], " "))
}

// evalMain runs one evaluation; changed reports whether a flag was given on
// the command line, command is recorded in the report.
func evalMain(ctx context.Context, stdout, stderr io.Writer, changed func(string) bool, model string, o evalFlags, command string) error {
	if o.data == "" {
		return usageError(errors.New("eval: --data is required (e.g. --data mnist:test)"))
	}
	if o.auto && (changed("norm") || changed("percentile")) {
		return usageError(errors.New("eval: --auto chooses --norm and --percentile itself; give one or the other"))
	}
	if eval.IsSNNFile(model) && o.source == "" {
		return usageError(fmt.Errorf("eval: %s is a converted SNN: name its source model with --source", model))
	}
	s := eval.Settings{
		Norm:       o.norm,
		Percentile: o.percentile,
		Reset:      o.reset,
		Encoding:   o.encoding,
		Calib:      o.calib,
		Seed:       o.seed,
		Auto:       o.auto,
	}
	if o.auto {
		s.TargetT = o.targetT
	}
	if changed("v-init") {
		v := o.vInit
		s.VInit = &v
	}
	var pre *dataset.Preprocessing
	if o.preprocess != "" {
		p, err := dataset.ParsePreprocessing(o.preprocess)
		if err != nil {
			return usageError(fmt.Errorf("eval: --preprocess: %w", err))
		}
		pre = &p
	}
	bar := &stageBar{}
	r, err := eval.Evaluate(ctx, eval.Options{
		Model:         model,
		Source:        o.source,
		Data:          o.data,
		Ts:            o.ts,
		Settings:      s,
		Batch:         o.batch,
		Reference:     o.reference,
		Progress:      bar,
		Preprocessing: pre,
	})
	bar.Done()
	if err != nil {
		return usageError(err)
	}
	fmt.Fprint(stdout, eval.Table(r))
	if o.jsonOut != "" {
		if err := eval.WriteJSON(o.jsonOut, r); err != nil {
			return usageError(err)
		}
	}
	if o.reportDir != "" {
		if err := eval.WriteReport(o.reportDir, r, &eval.Extras{Command: command}); err != nil {
			return usageError(err)
		}
		fmt.Fprintf(stderr, "report written to %s\n", filepath.Join(o.reportDir, "report.html"))
	}
	return nil
}
