package eval

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"

	"github.com/snnconvert/snnconvert/ann"
	"github.com/snnconvert/snnconvert/convert"
	"github.com/snnconvert/snnconvert/eval/dataset"
	"github.com/snnconvert/snnconvert/importer"
	"github.com/snnconvert/snnconvert/normalize"
	"github.com/snnconvert/snnconvert/snnrt"
)

// Defaults of Settings fields left zero.
const (
	DefaultNorm       = string(normalize.DefaultMethod)
	DefaultPercentile = 99.99
	DefaultReset      = "subtract"
	DefaultVInit      = 0.5
	DefaultEncoding   = "analog"
	DefaultCalibMNIST = "mnist:train:1000"
	DefaultCalibCIFAR = "cifar10:calib499"
	DefaultTargetT    = 32
)

// correlationBudget bounds the floats eval holds per simulation chunk (SNN
// spike counts plus ANN activations of every IF layer), about 128 MiB.
const correlationBudget = 32 << 20

// withDefaults fills every zero field with the tool's default, so a Result
// records what was actually used. The default calibration set follows the
// evaluation data: CIFAR-10 models calibrate on CIFAR-10 images.
func (s Settings) withDefaults(data string) Settings {
	if s.Norm == "" {
		s.Norm = DefaultNorm
	}
	if s.Percentile == 0 && s.Norm != string(normalize.Max) {
		s.Percentile = DefaultPercentile
	}
	if s.Reset == "" {
		s.Reset = DefaultReset
	}
	if s.VInit == nil {
		v := DefaultVInit
		s.VInit = &v
	}
	if s.Encoding == "" {
		s.Encoding = DefaultEncoding
	}
	if s.Calib == "" {
		s.Calib = DefaultCalibMNIST
		if strings.HasPrefix(data, "cifar10:") {
			s.Calib = DefaultCalibCIFAR
		}
	}
	if s.Auto && s.TargetT == 0 {
		s.TargetT = DefaultTargetT
	}
	return s
}

// validate rejects settings that no conversion could use, before any work.
func (s Settings) validate() error {
	if _, err := normalize.ParseMethod(s.Norm); err != nil {
		return err
	}
	if s.Percentile < 0 || s.Percentile > 100 || math.IsNaN(s.Percentile) {
		return fmt.Errorf("percentile %v: want 0 < p ≤ 100", s.Percentile)
	}
	if _, err := snnrt.ParseResetMode(s.Reset); err != nil {
		return err
	}
	if _, err := snnrt.ParseEncoding(s.Encoding); err != nil {
		return err
	}
	if v := *s.VInit; v < 0 || v > 1 || math.IsNaN(v) {
		return fmt.Errorf("v_init %v: want a fraction of the threshold in [0, 1]", v)
	}
	if s.Auto && s.TargetT < 1 {
		return fmt.Errorf("target T %d: want a positive timestep count", s.TargetT)
	}
	return nil
}

// IsSNNFile reports whether path names a converted network rather than a
// source model.
func IsSNNFile(path string) bool { return strings.HasSuffix(path, ".snn.onnx") }

// nopProgress stands in when Options.Progress is nil.
type nopProgress struct{}

func (nopProgress) Stage(string, int) {}
func (nopProgress) Add(int)           {}
func (nopProgress) Done()             {}

// calibProgress adapts convert's (done, total) callback to a Progress stage.
func calibProgress(p Progress, name string) func(done, total int) {
	started, last := false, 0
	return func(done, total int) {
		if !started {
			p.Stage(name, total)
			started = true
		}
		p.Add(done - last)
		last = done
	}
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// conversion is what Evaluate needs from a converted network: the network,
// the canonical ANN with the IF-layer → ANN-value map, and how the input
// must be laid out for both.
type conversion struct {
	net       *snnrt.Network
	canon     *ann.Graph
	layers    []convert.LayerMap
	inputPerm []int
	// snnPre, when set, is how to load the data for the SNN (a converted
	// file whose input permutation could not be recovered).
	snnPre   *dataset.Preprocessing
	warnings []string
}

func convertOptions(s Settings, calib *dataset.Set, model, sha string, maxT int) convert.Options {
	v := float32(*s.VInit)
	return convert.Options{
		Norm:          normalize.Method(s.Norm),
		Percentile:    s.Percentile,
		Reset:         snnrt.ResetMode(s.Reset),
		VInit:         &v,
		Encoding:      snnrt.Encoding(s.Encoding),
		Calib:         calib,
		CalibName:     calib.Name,
		SourceName:    model,
		SourceSHA256:  sha,
		TimestepsHint: maxT,
	}
}

func doConvert(g *ann.Graph, opt convert.Options) (*conversion, error) {
	net, rep, err := convert.Convert(g, opt)
	if err != nil {
		return nil, err
	}
	return &conversion{net: net, canon: rep.Graph, layers: rep.Layers, inputPerm: rep.InputPermutation, warnings: rep.Warnings}, nil
}

// Evaluate converts (or reads) the SNN, runs the source ANN and the SNN on
// the data set and compares them. Choices a reader of its numbers should know:
//   - ANN figures come from the source graph as imported (heads included; an
//     ArgMax head's output is the class), never from the converted graph.
//   - The SNN runs once to max(Ts); each T's prediction is the argmax of the
//     integrated readout at that step (snnrt checkpoints).
//   - TWithin01pp / TWithin1pp are the smallest reported T from which on every
//     larger T stays within the tolerance (SmallestTWithin).
//   - Correlation is over every (sample, neuron) pair of the data set between
//     the canonical ANN's activation divided by the layer's scale (convert's
//     LayerMap) and the neuron's spike count / max(Ts). The data are simulated
//     in chunks so memory stays bounded; with poisson encoding chunk k is
//     seeded Seed+offset, so figures depend on the seed and the chunk size
//     (itself fixed by the model), never on the machine.
//   - A *.snn.onnx file does not store the layer map: the source is converted
//     again with the settings the file records and the map is used only if
//     the thresholds come out identical (else a warning, no correlation).
//   - The spike raster shows the first sample over min(max(Ts), 64) steps.
//   - --auto (Settings.Auto) is described at autoChoose.
func Evaluate(ctx context.Context, opt Options) (*Result, error) {
	ts, err := normalizeTs(opt.Ts)
	if err != nil {
		return nil, err
	}
	if opt.Data == "" {
		return nil, errors.New("no data set given (e.g. mnist:test)")
	}
	prog := opt.Progress
	if prog == nil {
		prog = nopProgress{}
	}
	s := opt.Settings.withDefaults(opt.Data)
	if err := s.validate(); err != nil {
		return nil, fmt.Errorf("settings: %w", err)
	}
	srcPath := opt.Model
	if IsSNNFile(opt.Model) {
		if opt.Source == "" {
			return nil, fmt.Errorf("%s is a converted SNN: its source model is needed for the ANN figures (Options.Source, --source)", opt.Model)
		}
		srcPath = opt.Source
	}
	sha, err := fileSHA256(opt.Model)
	if err != nil {
		return nil, err
	}
	g, err := importer.ImportFile(srcPath)
	if err != nil {
		return nil, err
	}
	var pre dataset.Preprocessing
	if opt.Preprocessing != nil {
		pre = *opt.Preprocessing
	} else {
		var ok bool
		if pre, ok = dataset.PreprocessingFor(srcPath); !ok {
			return nil, fmt.Errorf("%s: input preprocessing unknown (not in a MANIFEST.json next to it nor in the shared-corpus table); give it explicitly", srcPath)
		}
	}
	data, err := dataset.Load(opt.Data, pre)
	if err != nil {
		return nil, err
	}
	if data.Len() == 0 {
		return nil, fmt.Errorf("data set %s is empty", opt.Data)
	}
	r := &Result{Model: opt.Model, ModelSHA256: sha, Data: opt.Data, Settings: s}
	maxT := ts[len(ts)-1]

	var conv *conversion
	if IsSNNFile(opt.Model) {
		conv, err = loadConverted(ctx, opt, g, pre, &r.Settings, prog)
	} else {
		conv, err = convertForEval(ctx, opt, g, pre, sha, maxT, r, prog)
	}
	if err != nil {
		return nil, err
	}
	r.Warnings = append(r.Warnings, conv.warnings...)
	r.HasMaxPool = len(conv.net.SpikingMaxPools(snnrt.Encoding(r.Settings.Encoding))) > 0
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	prog.Stage("ANN", data.Len())
	annPred, err := annPredict(g, data, prog.Add)
	prog.Done()
	if err != nil {
		return nil, err
	}
	if opt.Reference {
		r.Reference = referenceCheck(ctx, srcPath, g, data, prog)
		if r.Reference.Supported && !r.Reference.Agree {
			r.Warnings = append(r.Warnings, "the gorgonia reference disagrees with the ann executor: "+describeReference(r.Reference))
		}
	}

	snnData := data
	switch {
	case len(conv.inputPerm) > 0:
		if snnData, err = permuteSet(data, conv.inputPerm); err != nil {
			return nil, err
		}
	case conv.snnPre != nil:
		if snnData, err = dataset.Load(opt.Data, *conv.snnPre); err != nil {
			return nil, fmt.Errorf("%s: data in the SNN's input layout: %w", opt.Model, err)
		}
	}
	if err := simulate(ctx, opt, conv, data.Labels, annPred, snnData, ts, r, prog); err != nil {
		return nil, err
	}
	_, annMACs := ann.MACs(g)
	r.ANNMACs = float64(annMACs)
	r.EnergySNNuJ = snnrt.EnergyEstimate(r.ACs, r.MACs) * 1e6
	r.EnergyANNuJ = snnrt.EnergyEstimate(0, r.ANNMACs) * 1e6
	return r, nil
}

// convertForEval converts the source graph with the settings (searching
// them first with --auto) on the calibration set.
func convertForEval(ctx context.Context, opt Options, g *ann.Graph, pre dataset.Preprocessing, sha string, maxT int, r *Result, prog Progress) (*conversion, error) {
	s := &r.Settings
	calib, err := dataset.Load(s.Calib, pre)
	if err != nil {
		return nil, fmt.Errorf("calibration set: %w", err)
	}
	if s.Auto {
		choice, err := autoChoose(ctx, g, calib, *s, opt, prog)
		if err != nil {
			return nil, fmt.Errorf("--auto: %w", err)
		}
		s.Norm, s.Percentile = choice.norm, choice.percentile
		r.Chosen = choice.why
	}
	co := convertOptions(*s, calib, opt.Model, sha, maxT)
	co.Progress = calibProgress(prog, "calibration")
	conv, err := doConvert(g, co)
	prog.Done()
	if err != nil {
		return nil, err
	}
	return conv, nil
}

// ifLayers lists the network's IF nodes in order with their neuron counts.
func ifLayers(net *snnrt.Network) (names []string, neurons map[string]int) {
	neurons = map[string]int{}
	for _, n := range net.Nodes {
		if n.Op == snnrt.OpIF {
			names = append(names, n.Name)
			neurons[n.Name] = ann.Numel(n.Shape)
		}
	}
	return names, neurons
}

// simulate runs the SNN over the data in chunks (bounded memory), tallies
// predictions, and accumulates per-layer correlation and firing rates.
func simulate(ctx context.Context, opt Options, conv *conversion, labels, annPred []int, set *dataset.Set, ts []int, r *Result, prog Progress) error {
	maxT := ts[len(ts)-1]
	names, neurons := ifLayers(conv.net)
	total := 0
	for _, n := range neurons {
		total += n
	}
	accs := map[string]*layerAcc{}
	var order []*layerAcc
	for _, lm := range conv.layers {
		k, ok := neurons[lm.SNNNode]
		if !ok {
			r.Warnings = append(r.Warnings, fmt.Sprintf("conversion maps %q to ANN value %q, but the network has no such IF layer", lm.SNNNode, lm.ANNValue))
			continue
		}
		if shape, ok := conv.canon.Shapes[lm.ANNValue]; !ok || ann.Numel(shape) != k {
			r.Warnings = append(r.Warnings, fmt.Sprintf("layer %q: ANN value %q has shape %v, not %d neurons; no correlation for it", lm.SNNNode, lm.ANNValue, shape, k))
			continue
		}
		a, err := newLayerAcc(lm.SNNNode, lm.ANNValue, k, lm.Scale)
		if err != nil {
			return err
		}
		accs[lm.SNNNode] = a
	}
	// Layers without a map still get their firing rate.
	for _, name := range names {
		a := accs[name]
		if a == nil {
			a = &layerAcc{name: name, neurons: neurons[name]}
		}
		order = append(order, a)
	}
	var canon *annRunner
	if len(accs) > 0 {
		var err error
		if canon, err = newANNRunner(conv.canon, true); err != nil {
			return err
		}
	}
	chunk := max(64, min(2048, correlationBudget/max(1, 2*total)))
	ty := newTally(ts)
	snnPred := make([]int, len(ts))
	var acs, macs, seconds float64
	prog.Stage("SNN", set.Len())
	defer prog.Done()
	for from := 0; from < set.Len(); from += chunk {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := min(chunk, set.Len()-from)
		part := set.Slice(from, from+n)
		res, err := runSNN(conv.net, part, snnRunOptions{
			ts: ts, record: names, encoding: opt.Settings.Encoding, seed: opt.Settings.Seed + int64(from),
			batch: opt.Batch, progress: prog.Add, ctx: ctx,
		})
		if err != nil {
			return fmt.Errorf("SNN on %s: %w", part.Name, err)
		}
		seconds += res.seconds
		acs += res.acs
		macs += res.macs
		for i := 0; i < n; i++ {
			for c := range ts {
				snnPred[c] = res.preds[c][i]
			}
			ty.add(labels[from+i], annPred[from+i], snnPred)
		}
		if err := accumulateLayers(canon, part, res, order, maxT); err != nil {
			return err
		}
	}
	ty.fill(r)
	for _, a := range order {
		st := a.stat(maxT)
		if a.scale == nil {
			st.CorrUndefined = true
		}
		r.Layers = append(r.Layers, st)
		if st.MeanRate == 0 {
			r.Warnings = append(r.Warnings, fmt.Sprintf("layer %q never fired on %s", a.name, r.Data))
		}
	}
	r.ACs = acs / float64(set.Len())
	r.MACs = macs / float64(set.Len())
	if seconds > 0 {
		r.ImagesPerSec = float64(set.Len()) / seconds
	}
	if len(names) > 0 {
		rs, err := recordRaster(conv.net, set, 0, maxT, names, snnRunOptions{encoding: opt.Settings.Encoding, seed: opt.Settings.Seed, ctx: ctx})
		if err != nil {
			return fmt.Errorf("spike raster: %w", err)
		}
		rs.Label = labels[0]
		r.Raster = rs
	}
	return nil
}

// accumulateLayers adds one chunk's spike counts (and, where the layer has
// an ANN value, the canonical ANN's activations) to the layer accumulators.
func accumulateLayers(canon *annRunner, part *dataset.Set, res *snnResult, order []*layerAcc, steps int) error {
	for from := 0; from < part.Len(); from += annBatch {
		n := min(annBatch, part.Len()-from)
		var vals map[string]*ann.Tensor
		if canon != nil {
			var err error
			if vals, err = canon.run(part, from, n); err != nil {
				return err
			}
		}
		for _, a := range order {
			counts := res.counts[a.name]
			k := a.neurons
			if len(counts) != part.Len()*k {
				return fmt.Errorf("layer %q: runtime returned %d spike counts for %d samples of %d neurons", a.name, len(counts), part.Len(), k)
			}
			if a.scale == nil {
				for i := from * k; i < (from+n)*k; i++ {
					a.spikes += float64(counts[i])
				}
				a.samples += n
				continue
			}
			act := vals[a.annValue]
			for i := 0; i < n; i++ {
				a.add(act.Data[i*k:(i+1)*k], counts[(from+i)*k:(from+i+1)*k], steps)
			}
		}
	}
	return nil
}

// rasterLayers is how many IF layers the raster shows at most: the first,
// the last and evenly spaced ones between.
const rasterLayers = 5

func pickRasterLayers(names []string) []string {
	if len(names) <= rasterLayers {
		return slices.Clone(names)
	}
	out := make([]string, rasterLayers)
	for i := range out {
		out[i] = names[i*(len(names)-1)/(rasterLayers-1)]
	}
	return out
}
