package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strconv"

	"github.com/jedib0t/go-pretty/v6/table"
	"github.com/jedib0t/go-pretty/v6/text"
	"github.com/spf13/cobra"

	"github.com/snnconvert/snnconvert/eval/dataset"
	"github.com/snnconvert/snnconvert/snnrt"
)

type runFlags struct {
	data        string
	T           int
	encoding    string
	seed        int64
	batch       int
	workers     int
	earlyExit   int
	exitRule    string
	checkpoints []int
	asJSON      bool
}

var runCmd = &cobra.Command{
	Use:   "run MODEL.snn.onnx",
	Short: "Simulate a converted spiking network on a data set",
	Long: `run simulates a *.snn.onnx network for T steps on a labelled data set and
prints the accuracy at each checkpoint step (1, 2, 4, …, T), the spikes per
layer, the synaptic operations (ACs) and MACs per image, an energy estimate
and the simulation speed.

The data set is preprocessed as the file's snn.preprocessing metadata says;
files without it get MNIST-style x/255 in the network's input shape (a note on
stderr says so).`,
	Args: cobra.ExactArgs(1),
}

func init() {
	o := &runFlags{}
	f := runCmd.Flags()
	f.StringVar(&o.data, "data", "mnist:test", "data set spec (mnist:test[:N], mnist:train[:N], npz:PATH, idx:IMAGES,LABELS, ...)")
	f.IntVarP(&o.T, "timesteps", "T", 64, "number of time steps")
	f.StringVar(&o.encoding, "encoding", "", "input encoding: analog, rate or poisson (default: the file's)")
	f.Int64Var(&o.seed, "seed", 0, "seed of the poisson encoder")
	f.IntVar(&o.batch, "batch", 0, "samples fetched per batch (0: 256; results do not depend on it)")
	f.IntVar(&o.workers, "workers", 0, "simulation goroutines (0: one per core)")
	f.IntVar(&o.earlyExit, "early-exit", 0, "stop a sample once its prediction has not changed for K steps and --exit-rule holds (0: off)")
	f.StringVar(&o.exitRule, "exit-rule", "exact", "what early exit asks beyond K unchanged steps: exact (its readout margin exceeds what the remaining steps could overturn, so the prediction is the full run's) or stable (nothing more: far fewer steps, and the prediction may differ)")
	f.IntSliceVar(&o.checkpoints, "checkpoints", nil, "extra steps at which to report accuracy")
	f.BoolVar(&o.asJSON, "json", false, "print the result as JSON")
	runCmd.RunE = func(cmd *cobra.Command, args []string) error {
		return runSNN(cmd.OutOrStdout(), cmd.ErrOrStderr(), args[0], o)
	}
	rootCmd.AddCommand(runCmd)
}

// runReport is the --json output of run.
type runReport struct {
	Model        string                `json:"model"`
	Data         string                `json:"data"`
	Samples      int                   `json:"samples"`
	T            int                   `json:"T"`
	Encoding     snnrt.Encoding        `json:"encoding"`
	Seed         int64                 `json:"seed"`
	Points       []runPoint            `json:"points"`
	Layers       []snnrt.LayerStats    `json:"layers"`
	Ops          []snnrt.OpStats       `json:"ops"`
	ACs          float64               `json:"acs_per_image"`
	MACs         float64               `json:"macs_per_image"`
	EnergyUJ     float64               `json:"energy_uj_per_image_estimate"`
	ANNMACs      float64               `json:"ann_macs_per_image"`
	ANNEnergyUJ  float64               `json:"ann_energy_uj_per_image_estimate"`
	EnergyNote   string                `json:"energy_note"`
	ImagesPerSec float64               `json:"images_per_sec"`
	EventsPerSec float64               `json:"synaptic_events_per_sec"`
	MeanSteps    float64               `json:"mean_steps"`
	EarlyExit    int                   `json:"early_exit,omitempty"`
	ExitRule     snnrt.ExitRule        `json:"exit_rule,omitempty"`
	MeanFinal    float64               `json:"mean_final_step"`
	FinalBy      finalBy               `json:"final_by"`
	Preprocess   dataset.Preprocessing `json:"preprocessing"`
}

// finalBy: the steps by which half, 90 %, 99 % and all of the samples'
// predictions were final.
type finalBy struct {
	P50 int `json:"p50"`
	P90 int `json:"p90"`
	P99 int `json:"p99"`
	All int `json:"all"`
}

type runPoint struct {
	T        int     `json:"T"`
	Accuracy float64 `json:"accuracy"`
	Correct  int     `json:"correct"`
}

func runSNN(stdout, stderr io.Writer, path string, o *runFlags) error {
	opt := snnrt.RunOptions{T: o.T, Checkpoints: o.checkpoints, Seed: o.seed, Batch: o.batch, Workers: o.workers, EarlyExit: o.earlyExit,
		ExitRule: snnrt.ExitRule(o.exitRule)}
	if err := opt.Check(); err != nil {
		return usageError(err)
	}
	net, err := snnrt.Read(path)
	if err != nil {
		return usageError(err)
	}
	if o.encoding != "" {
		if opt.Encoding, err = snnrt.ParseEncoding(o.encoding); err != nil {
			return usageError(err)
		}
	}
	pre, note, err := snnPreprocessing(net)
	if err != nil {
		return usageError(fmt.Errorf("%s: %w", path, err))
	}
	if note != "" {
		fmt.Fprintln(stderr, note)
	}
	// Compiled before the data are loaded: a network the runtime refuses
	// costs no data-set load.
	prog, err := snnrt.Compile(net, opt.Encoding, nil)
	if err != nil {
		return usageError(fmt.Errorf("%s: %w", path, err))
	}
	for _, m := range prog.Notes() {
		fmt.Fprintln(stderr, "note: "+m)
	}
	set, err := dataset.Load(o.data, pre)
	if err != nil {
		return usageError(err)
	}
	bar := newProgress(set.Len(), "simulating")
	opt.Progress = func(done, total int) { bar.Set(done) }
	res, err := prog.Run(set, opt)
	bar.Finish()
	if err != nil {
		return usageError(fmt.Errorf("%s: %w", path, err))
	}
	acc, err := res.Accuracy(set.Labels)
	if err != nil {
		return err
	}
	rep := runReport{Model: path, Data: o.data, Samples: res.Samples, T: res.T, Encoding: res.Encoding, Seed: o.seed,
		Layers: res.Layers, Ops: res.Ops, ACs: res.ACsPerImage(), MACs: res.MACsPerImage(),
		EnergyUJ: snnrt.EnergyEstimate(res.ACsPerImage(), res.MACsPerImage()) * 1e6,
		ANNMACs:  res.ANNMACsPerImage(), ANNEnergyUJ: snnrt.EnergyEstimate(0, res.ANNMACsPerImage()) * 1e6,
		EnergyNote: snnrt.EnergyNote, ImagesPerSec: res.ImagesPerSec, EventsPerSec: res.EventsPerSec(),
		MeanSteps: res.MeanSteps, EarlyExit: o.earlyExit, Preprocess: pre}
	if o.earlyExit > 0 {
		rep.ExitRule = cmp.Or(opt.ExitRule, snnrt.ExitExact)
	}
	var fin int
	for _, f := range res.FinalStep {
		fin += f
	}
	if res.Samples > 0 {
		rep.MeanFinal = float64(fin) / float64(res.Samples)
	}
	rep.FinalBy = finalBy{P50: res.FinalBy(0.5), P90: res.FinalBy(0.9), P99: res.FinalBy(0.99), All: res.FinalBy(1)}
	for c, t := range res.Checkpoints {
		rep.Points = append(rep.Points, runPoint{T: t, Accuracy: acc[c], Correct: int(acc[c]*float64(res.Samples) + 0.5)})
	}
	if o.asJSON {
		return writeJSON(stdout, rep)
	}
	printRun(stdout, &rep)
	return nil
}

// snnPreprocessing returns the data-set preprocessing stored in the file by
// convert, or MNIST x/255 in the network's input shape with a note saying so.
func snnPreprocessing(net *snnrt.Network) (dataset.Preprocessing, string, error) {
	if s, ok := net.Meta.Extra[snnrt.KeyPreprocessing]; ok {
		var p dataset.Preprocessing
		if err := json.Unmarshal([]byte(s), &p); err != nil {
			return p, "", fmt.Errorf("metadata %s: %w", snnrt.KeyPreprocessing, err)
		}
		if err := p.Validate(); err != nil {
			return p, "", fmt.Errorf("metadata %s: %w", snnrt.KeyPreprocessing, err)
		}
		return p, "", nil
	}
	p := dataset.Preprocessing{Layout: dataset.LayoutNCHW, Shape: net.InputShape, Scale: 1.0 / 255}
	if len(net.InputShape) != 3 {
		p.Layout = dataset.LayoutFlat
	}
	return p, fmt.Sprintf("note: the file has no %s metadata; using x/255, layout %s, shape %v", snnrt.KeyPreprocessing, p.Layout, net.InputShape), nil
}

func printRun(w io.Writer, r *runReport) {
	fmt.Fprintf(w, "%s on %s (%d samples), T=%d, encoding %s\n\n", filepath.Base(r.Model), r.Data, r.Samples, r.T, r.Encoding)
	t := newRunTable(w)
	t.AppendHeader(table.Row{"T", "accuracy", "correct"})
	for _, p := range r.Points {
		t.AppendRow(table.Row{p.T, fmt.Sprintf("%.2f%%", 100*p.Accuracy), p.Correct})
	}
	t.SetColumnConfigs([]table.ColumnConfig{{Number: 2, Align: text.AlignRight}})
	t.Render()
	fmt.Fprintln(w)
	l := newRunTable(w)
	l.AppendHeader(table.Row{"IF layer", "neurons", "spikes/image", "rate"})
	for _, s := range r.Layers {
		l.AppendRow(table.Row{s.Name, s.Neurons, fmt.Sprintf("%.1f", float64(s.Spikes)/float64(max(r.Samples, 1))), fmt.Sprintf("%.4f", s.Rate)})
	}
	l.SetColumnConfigs([]table.ColumnConfig{{Number: 3, Align: text.AlignRight}, {Number: 4, Align: text.AlignRight}})
	l.Render()
	fmt.Fprintln(w)
	op := newRunTable(w)
	op.AppendHeader(table.Row{"node", "op", "ACs/image", "MACs/image", "ANN MACs/image"})
	n := float64(max(r.Samples, 1))
	for _, s := range r.Ops {
		op.AppendRow(table.Row{s.Name, s.Op, human(float64(s.ACs) / n), human(float64(s.MACs) / n), human(float64(s.ANNMACs))})
	}
	op.AppendFooter(table.Row{"total", "", human(r.ACs), human(r.MACs), human(r.ANNMACs)})
	op.SetColumnConfigs([]table.ColumnConfig{
		{Number: 3, Align: text.AlignRight, AlignFooter: text.AlignRight},
		{Number: 4, Align: text.AlignRight, AlignFooter: text.AlignRight},
		{Number: 5, Align: text.AlignRight, AlignFooter: text.AlignRight},
	})
	op.Render()
	fmt.Fprintf(w, "\nenergy per image: %.3f µJ for the SNN at T=%d, %.3f µJ for one pass of the ANN\n  (%s)\n",
		r.EnergyUJ, r.T, r.ANNEnergyUJ, r.EnergyNote)
	fmt.Fprintf(w, "speed: %s images/s, %s synaptic events/s", digits3(r.ImagesPerSec), human(r.EventsPerSec))
	if r.EarlyExit > 0 {
		fmt.Fprintf(w, ", early exit (%s) after %d unchanged steps: %.1f steps per image on average", r.ExitRule, r.EarlyExit, r.MeanSteps)
	}
	f := r.FinalBy
	fmt.Fprintf(w, "\npredictions final from step %.1f on average; half by step %d, 90%% by %d, 99%% by %d, all by %d\n",
		r.MeanFinal, f.P50, f.P90, f.P99, f.All)
}

// newRunTable keeps headers and footers as written: upper case would turn
// ACs into ACS and 20.4k into 20.4K.
func newRunTable(w io.Writer) table.Writer {
	t := table.NewWriter()
	t.SetOutputMirror(w)
	t.Style().Format.Header = text.FormatDefault
	t.Style().Format.Footer = text.FormatDefault
	return t
}

// human prints a count with an SI suffix.
func human(v float64) string {
	switch {
	case v >= 1e9:
		return strconv.FormatFloat(v/1e9, 'f', 2, 64) + "G"
	case v >= 1e6:
		return strconv.FormatFloat(v/1e6, 'f', 2, 64) + "M"
	case v >= 1e3:
		return strconv.FormatFloat(v/1e3, 'f', 1, 64) + "k"
	}
	return digits3(v)
}

// digits3 prints a value below 1,000 with at least three significant digits
// (a long run's 0.48 images/s is not 0), and whole numbers and larger ones
// without decimals.
func digits3(v float64) string {
	switch {
	case v >= 100 || v == math.Trunc(v):
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}
