// Package normalize chooses the activation scale λ of every spiking layer
// from a calibration set, so that an integrate-and-fire neuron whose rate is r
// stands for the ANN activation r·λ (DESIGN §2; Diehl et al. 2015, Rueckauer
// et al. 2017).
//
// In: a canonical *ann.Graph (package convert's passes have run), the values
// to calibrate (the outputs of ReLU and clipped-ReLU nodes) and a Source of
// preprocessed samples.
// Out: a Result with one scale per value (per layer) or one per channel (the
// value's axis 0), plus what produced them (method, percentile, number of
// samples, sha256 of the data read) for the SNN file's snn.normalization.
//
// Streaming: the samples are run through the ann executor in batches and each
// target keeps one fixed-size histogram per layer or per channel (bins over
// [0, hi) that double their range when a larger value arrives), never the
// activations themselves, so memory does not grow with the calibration set
// (SNN Toolbox keeps every activation and runs out of memory). A percentile
// read from the histogram is exact up to one bin, at most 2·max/Bins.
//
// Methods:
//   - max: λ = the largest activation seen (Diehl 2015).
//   - percentile: λ = the p-th percentile of the positive activations of the
//     layer (Rueckauer 2017; p = 99.99 by default), robust to outliers.
//   - channel: the same percentile per output channel (axis 0 of the value).
//
// Zero activations are left out of the distributions, as SNN Toolbox does: a
// layer where most units are silent would otherwise get a percentile of 0.
// A clipped ReLU's scale is its clip value (DESIGN §2: the SNN saturates
// exactly there). The inputs of a residual Add or a Concat are unified to the
// largest of their scales (Unify) so the merge adds like units.
package normalize

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
	"math"
	"runtime"
	"sync"

	"github.com/snnconvert/snnconvert/ann"
)

// Source is a calibration set: preprocessed samples of one shape.
// *dataset.Set implements it.
type Source interface {
	Len() int
	SampleShape() []int
	Batch(dst []float32, from, n int) error
}

// Method is how a scale is read from the activation distribution.
type Method string

// The normalisation methods.
const (
	Max        Method = "max"
	Percentile Method = "percentile"
	Channel    Method = "channel"
)

// DefaultMethod is per-channel: with batch-normalised convolutions the
// channels of one layer differ in scale by an order of magnitude, and one
// layer-wide threshold leaves most channels nearly silent (cnn_bn reaches 52 %
// at T=32 with Percentile, 98 % with Channel); on the plain ReLU models both
// methods are within the sampling error of each other.
const DefaultMethod = Channel

// DefaultPercentile is Rueckauer 2017's choice.
const DefaultPercentile = 99.99

// ParseMethod validates a user-supplied method.
func ParseMethod(s string) (Method, error) {
	switch Method(s) {
	case Max, Percentile, Channel:
		return Method(s), nil
	}
	return "", fmt.Errorf("unknown normalisation method %q (want percentile, max or channel)", s)
}

// Target is one value to calibrate.
type Target struct {
	Value string
	// Clip is a clipped ReLU's clip value (0 for a plain ReLU): the scale is
	// the clip value itself and no statistics are needed for it.
	Clip float32
}

// Options tune Calibrate. Zero values take the defaults.
type Options struct {
	Method     Method  // default percentile
	Percentile float64 // default 99.99; used by percentile and channel
	// Batch is how many samples go through the executor at once (default 64).
	Batch int
	// Workers for the executor (0 = GOMAXPROCS).
	Workers int
	// Bins per histogram (default 2048: percentile error ≤ 0.1 % of max).
	Bins int
	// Progress is called after each batch with samples done and total.
	Progress func(done, total int)
}

// Result holds the scales and their provenance.
type Result struct {
	// Scales maps each target value to one scale (per layer) or one per
	// channel. Every entry is positive: a unit that never fired falls back to
	// its layer's scale, and a layer that never fired to 1 (with a warning).
	Scales     map[string][]float32
	Method     Method
	Percentile float64 // 0 for max
	Samples    int
	// SHA256 of the float32 samples read (little-endian), so the SNN file
	// records exactly which data chose its thresholds.
	SHA256   string
	Warnings []string
}

// Calibrate runs src through g and returns the scale of every target.
func Calibrate(g *ann.Graph, targets []Target, src Source, opt Options) (*Result, error) {
	if opt.Method == "" {
		opt.Method = Percentile
	}
	if _, err := ParseMethod(string(opt.Method)); err != nil {
		return nil, err
	}
	if opt.Percentile == 0 {
		opt.Percentile = DefaultPercentile
	}
	if opt.Percentile <= 0 || opt.Percentile > 100 || math.IsNaN(opt.Percentile) {
		return nil, fmt.Errorf("percentile %v: want 0 < p ≤ 100", opt.Percentile)
	}
	if opt.Batch <= 0 {
		opt.Batch = 64
	}
	if opt.Bins <= 0 {
		opt.Bins = 2048
	}
	if len(g.Inputs) != 1 {
		return nil, fmt.Errorf("calibration needs a graph with one input, %q has %d", g.Name, len(g.Inputs))
	}
	in := g.Inputs[0]
	if src.Len() == 0 {
		return nil, fmt.Errorf("calibration set is empty")
	}
	if ann.Numel(src.SampleShape()) != ann.Numel(in.Shape) {
		return nil, fmt.Errorf("calibration samples have shape %v, input %q of %q wants %v", src.SampleShape(), in.Name, g.Name, in.Shape)
	}

	res := &Result{Scales: map[string][]float32{}, Method: opt.Method, Samples: src.Len()}
	if opt.Method != Max {
		res.Percentile = opt.Percentile
	}
	var stats []*valueStats
	for _, t := range targets {
		if t.Clip > 0 {
			res.Scales[t.Value] = []float32{t.Clip}
			continue
		}
		shape, ok := g.Shapes[t.Value]
		if !ok {
			return nil, fmt.Errorf("calibration target %q is not a value of graph %q", t.Value, g.Name)
		}
		stats = append(stats, newValueStats(t.Value, shape, opt.Method == Channel, opt.Bins))
	}

	// The data is read even when every target is clipped: the hash still
	// records what the conversion was given.
	h := sha256.New()
	if err := stream(g, stats, src, opt, h); err != nil {
		return nil, err
	}
	res.SHA256 = hex.EncodeToString(h.Sum(nil))
	for _, s := range stats {
		sc, warn := s.scales(opt.Method, opt.Percentile)
		res.Scales[s.value] = sc
		if warn != "" {
			res.Warnings = append(res.Warnings, warn)
		}
	}
	return res, nil
}

// stream feeds src through the executor batch by batch into the histograms
// and the hash.
func stream(g *ann.Graph, stats []*valueStats, src Source, opt Options, h hash.Hash) error {
	exe, err := ann.NewExecutor(g, ann.ExecOptions{Workers: opt.Workers, KeepAll: true})
	if err != nil {
		return fmt.Errorf("calibration: %w", err)
	}
	in := g.Inputs[0]
	per := ann.Numel(in.Shape)
	total := src.Len()
	buf := make([]float32, opt.Batch*per)
	raw := make([]byte, 4*len(buf))
	shape := append([]int{0}, in.Shape...)
	workers := opt.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	for from := 0; from < total; from += opt.Batch {
		n := min(opt.Batch, total-from)
		x := buf[:n*per]
		if err := src.Batch(x, from, n); err != nil {
			return fmt.Errorf("calibration: %w", err)
		}
		for i, v := range x {
			binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
		}
		h.Write(raw[:4*len(x)])
		shape[0] = n
		out, err := exe.Run(map[string]*ann.Tensor{in.Name: {Shape: shape, Data: x}})
		if err != nil {
			return fmt.Errorf("calibration, samples %d..%d: %w", from, from+n-1, err)
		}
		// Histograms are independent per value: update them in parallel.
		var wg sync.WaitGroup
		sem := make(chan struct{}, workers)
		errs := make([]error, len(stats))
		for i, s := range stats {
			t, ok := out[s.value]
			if !ok {
				return fmt.Errorf("calibration: executor returned no value %q", s.value)
			}
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer func() { <-sem; wg.Done() }()
				errs[i] = s.add(t.Data, n)
			}()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				return fmt.Errorf("calibration: %w", err)
			}
		}
		if opt.Progress != nil {
			opt.Progress(from+n, total)
		}
	}
	return nil
}

// valueStats holds one histogram per layer or per channel of one value.
type valueStats struct {
	value string
	shape []int
	inner int // elements per channel per sample
	hists []*histogram
}

func newValueStats(value string, shape []int, perChannel bool, bins int) *valueStats {
	s := &valueStats{value: value, shape: shape, inner: ann.Numel(shape)}
	nh := 1
	if perChannel && len(shape) > 0 {
		nh = shape[0]
		s.inner = ann.Numel(shape[1:])
	}
	s.hists = make([]*histogram, nh)
	for i := range s.hists {
		s.hists[i] = newHistogram(bins)
	}
	return s
}

func (s *valueStats) add(data []float32, n int) error {
	per := ann.Numel(s.shape)
	if len(data) != n*per {
		return fmt.Errorf("value %q holds %d floats for %d samples of shape %v", s.value, len(data), n, s.shape)
	}
	if len(s.hists) == 1 {
		h := s.hists[0]
		for _, v := range data {
			h.add(v)
		}
		return nil
	}
	for i := 0; i < n; i++ {
		sample := data[i*per : (i+1)*per]
		for c, h := range s.hists {
			for _, v := range sample[c*s.inner : (c+1)*s.inner] {
				h.add(v)
			}
		}
	}
	return nil
}

// scales reads the scale(s) from the histograms; silent channels take the
// layer's scale, and a silent layer takes 1.
func (s *valueStats) scales(m Method, p float64) ([]float32, string) {
	read := func(h *histogram) float32 {
		if m == Max {
			return h.max
		}
		return h.percentile(p)
	}
	out := make([]float32, len(s.hists))
	var layer float32
	silent := 0
	for i, h := range s.hists {
		out[i] = read(h)
		if out[i] > layer {
			layer = out[i]
		}
		if out[i] == 0 {
			silent++
		}
	}
	warn := ""
	if layer == 0 {
		layer = 1
		warn = fmt.Sprintf("value %q never had a positive activation on the calibration set; its scale is set to 1", s.value)
	} else if silent > 0 && len(out) > 1 {
		warn = fmt.Sprintf("value %q: %d of %d channels never fired on the calibration set; they take the layer scale %g", s.value, silent, len(out), layer)
	}
	for i := range out {
		if out[i] == 0 {
			out[i] = layer
		}
	}
	return out, warn
}
