package snnrt

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
)

func ifNode(name, in, out string, th []float32, reset ResetMode, vinit float32) *Node {
	return &Node{Name: name, Op: OpIF, Inputs: []string{in}, Output: out, Threshold: th, Reset: reset, VInit: vinit}
}

func thresholds(r *rand.Rand, n int) []float32 {
	t := make([]float32, n)
	for i := range t {
		t[i] = dyadic(r, 0.5, 2)
	}
	return t
}

// convTestNet exercises strides, asymmetric pads, dilation, groups, both
// resets, per-layer and per-channel thresholds, both poolings and a
// fused readout.
func convTestNet(r *rand.Rand) *Network {
	return &Network{Name: "convtest", Input: "x", InputShape: []int{2, 9, 8}, Output: "logits", Nodes: []*Node{
		{Name: "c1", Op: OpConv, Inputs: []string{"x"}, Output: "c1", W: dyadicTensor(r, -0.5, 0.75, 4, 2, 3, 3), B: dyadicTensor(r, -0.25, 0.5, 4), Strides: []int{2, 1}, Pads: []int{1, 0, 2, 1}},
		ifNode("if1", "c1", "s1", thresholds(r, 4), ResetSubtract, 0.5),
		{Name: "c2", Op: OpConv, Inputs: []string{"s1"}, Output: "c2", W: dyadicTensor(r, -0.5, 0.75, 6, 2, 2, 3), B: dyadicTensor(r, -0.25, 0.5, 6), Group: 2, Dilations: []int{2, 1}, Pads: []int{1, 1, 1, 1}},
		ifNode("if2", "c2", "s2", thresholds(r, 1), ResetZero, 0.25),
		{Name: "mp", Op: OpSpikeMaxPool, Inputs: []string{"s2"}, Output: "mp", Kernel: []int{2, 2}, Strides: []int{2, 2}, Pads: []int{0, 0, 1, 1}},
		{Name: "sp", Op: OpSumPool, Inputs: []string{"mp"}, Output: "sp", Kernel: []int{2, 2}, Strides: []int{1, 1}, Pads: []int{1, 1, 0, 0}},
		{Name: "c3", Op: OpConv, Inputs: []string{"sp"}, Output: "c3", W: dyadicTensor(r, -0.5, 0.75, 5, 6, 2, 2)},
		ifNode("if3", "c3", "s3", thresholds(r, 5), ResetSubtract, 0.5),
		{Name: "fl", Op: OpFlatten, Inputs: []string{"s3"}, Output: "f"},
		{Name: "d1", Op: OpDense, Inputs: []string{"f"}, Output: "d1", W: dyadicTensor(r, -0.5, 0.75, 12, 30), B: dyadicTensor(r, -0.25, 0.5, 12)},
		ifNode("if4", "d1", "s4", thresholds(r, 12), ResetSubtract, 0.5),
		{Name: "d2", Op: OpDense, Inputs: []string{"s4"}, Output: "logits", W: dyadicTensor(r, -1, 1, 10, 12), B: dyadicTensor(r, -0.25, 0.25, 10)},
	}}
}

// mergeTestNet exercises residual Add with scales (dense and sparse),
// Concat, Affine with and without bias, Reshape and an unfused readout.
func mergeTestNet(r *rand.Rand) *Network {
	return &Network{Name: "mergetest", Input: "x", InputShape: []int{3, 6, 6}, Output: "logits", Nodes: []*Node{
		{Name: "c1", Op: OpConv, Inputs: []string{"x"}, Output: "c1", W: dyadicTensor(r, -0.5, 0.75, 4, 3, 3, 3), B: dyadicTensor(r, -0.25, 0.5, 4), Pads: []int{1, 1, 1, 1}},
		ifNode("ifa", "c1", "a", thresholds(r, 4), ResetSubtract, 0.5),
		{Name: "c2", Op: OpConv, Inputs: []string{"a"}, Output: "c2", W: dyadicTensor(r, -0.5, 0.75, 4, 4, 3, 3), B: dyadicTensor(r, -0.25, 0.5, 4), Pads: []int{1, 1, 1, 1}},
		{Name: "add", Op: OpAdd, Inputs: []string{"c2", "a"}, Output: "sum", Scales: []float32{1, 0.5}},
		ifNode("ifb", "sum", "b", thresholds(r, 4), ResetSubtract, 0.5),
		{Name: "cat", Op: OpConcat, Inputs: []string{"a", "b"}, Output: "ab", Axis: 0},
		{Name: "aff", Op: OpAffine, Inputs: []string{"ab"}, Output: "ab2", W: dyadicTensor(r, 0.5, 1.5, 8)},
		ifNode("ifc", "ab2", "c", thresholds(r, 1), ResetSubtract, 0.5),
		{Name: "aff2", Op: OpAffine, Inputs: []string{"ab"}, Output: "ab3", W: dyadicTensor(r, 0.5, 1.5, 8), B: dyadicTensor(r, -0.25, 0.25, 8)},
		ifNode("ifd", "ab3", "d", thresholds(r, 8), ResetZero, 0.5),
		{Name: "add2", Op: OpAdd, Inputs: []string{"c", "d"}, Output: "cd"},
		{Name: "rs", Op: OpReshape, Inputs: []string{"cd"}, Output: "cd2", Shape: []int{8, 36}},
		{Name: "fl", Op: OpFlatten, Inputs: []string{"cd2"}, Output: "f"},
		{Name: "cat2", Op: OpConcat, Inputs: []string{"f", "f"}, Output: "ff", Axis: 0},
		{Name: "d", Op: OpDense, Inputs: []string{"ff"}, Output: "pre", W: dyadicTensor(r, -0.5, 0.5, 10, 576), B: dyadicTensor(r, -0.25, 0.25, 10)},
		{Name: "ro", Op: OpAdd, Inputs: []string{"pre", "pre"}, Output: "logits", Scales: []float32{0.5, 0.5}},
	}}
}

// datalessTestNet has spikes read only through their lists (by a sum pool, a
// max pool, a concat, a conv and a dense layer) next to spikes an Add needs
// as values; see TestDatalessValues.
func datalessTestNet(r *rand.Rand) *Network {
	return &Network{Name: "datalesstest", Input: "x", InputShape: []int{2, 6, 6}, Output: "logits", Nodes: []*Node{
		{Name: "c1", Op: OpConv, Inputs: []string{"x"}, Output: "c1", W: dyadicTensor(r, -0.5, 0.75, 3, 2, 3, 3), B: dyadicTensor(r, -0.25, 0.5, 3), Pads: []int{1, 1, 1, 1}},
		ifNode("if1", "c1", "s1", thresholds(r, 3), ResetSubtract, 0.5),
		{Name: "sp", Op: OpSumPool, Inputs: []string{"s1"}, Output: "sp", Kernel: []int{2, 2}, Strides: []int{2, 2}},
		{Name: "c2", Op: OpConv, Inputs: []string{"sp"}, Output: "c2", W: dyadicTensor(r, -0.5, 0.75, 3, 3, 3, 3), Pads: []int{1, 1, 1, 1}},
		ifNode("if2", "c2", "s2", thresholds(r, 3), ResetSubtract, 0.5),
		{Name: "c3", Op: OpConv, Inputs: []string{"s1"}, Output: "c3", W: dyadicTensor(r, -0.5, 0.75, 3, 3, 2, 2), Strides: []int{2, 2}},
		ifNode("if3", "c3", "s3", thresholds(r, 1), ResetZero, 0.5),
		{Name: "cat", Op: OpConcat, Inputs: []string{"s2", "s3"}, Output: "cat", Axis: 0},
		{Name: "mp", Op: OpSpikeMaxPool, Inputs: []string{"s3"}, Output: "mp", Kernel: []int{3, 3}, Strides: []int{3, 3}},
		{Name: "c4", Op: OpConv, Inputs: []string{"cat"}, Output: "c4", W: dyadicTensor(r, -0.5, 0.75, 4, 6, 3, 3), B: dyadicTensor(r, -0.25, 0.5, 4)},
		ifNode("if4", "c4", "s4", thresholds(r, 4), ResetSubtract, 0.5),
		{Name: "fl", Op: OpFlatten, Inputs: []string{"s4"}, Output: "f"},
		{Name: "flm", Op: OpFlatten, Inputs: []string{"mp"}, Output: "fm"},
		{Name: "d1", Op: OpDense, Inputs: []string{"fm"}, Output: "d1", W: dyadicTensor(r, -0.5, 0.75, 4, 3)},
		ifNode("if5", "d1", "s5", thresholds(r, 4), ResetSubtract, 0.5),
		{Name: "add", Op: OpAdd, Inputs: []string{"f", "s5"}, Output: "sum", Scales: []float32{1, 0.5}},
		{Name: "d2", Op: OpDense, Inputs: []string{"sum"}, Output: "logits", W: dyadicTensor(r, -1, 1, 10, 4), B: dyadicTensor(r, -0.25, 0.25, 10)},
	}}
}

// TestDatalessValues: exactly the spikes (of IF nodes and max pools) that no
// consumer reads as values skip their data array (the results are checked by
// TestMatchesReference).
func TestDatalessValues(t *testing.T) {
	net := datalessTestNet(rand.New(rand.NewPCG(1, 1)))
	p, err := compile(net, EncodingAnalog, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"s1": true, "s2": true, "s3": true, "mp": true, "s4": false, "s5": false}
	for v, dl := range want {
		if p.vals[v].dataless != dl {
			t.Errorf("%s: dataless %v, want %v", v, p.vals[v].dataless, dl)
		}
	}
}

// poolTestNet has overlapping spiking max pools (3×3 stride 2 with padding,
// and 2×2 stride 1) on spikes with dyadic thresholds, so that windows share
// inputs and counts tie often; the leaders kept per window must match a
// rescan of every window.
func poolTestNet(r *rand.Rand) *Network {
	return &Network{Name: "pooltest", Input: "x", InputShape: []int{2, 7, 7}, Output: "logits", Nodes: []*Node{
		{Name: "c1", Op: OpConv, Inputs: []string{"x"}, Output: "c1", W: dyadicTensor(r, -0.5, 0.75, 3, 2, 3, 3), B: dyadicTensor(r, 0, 0.5, 3), Pads: []int{1, 1, 1, 1}},
		ifNode("if1", "c1", "s1", []float32{0.5, 0.25, 1}, ResetSubtract, 0),
		{Name: "mp1", Op: OpSpikeMaxPool, Inputs: []string{"s1"}, Output: "m1", Kernel: []int{3, 3}, Strides: []int{2, 2}, Pads: []int{1, 1, 1, 1}},
		{Name: "mp2", Op: OpSpikeMaxPool, Inputs: []string{"m1"}, Output: "m2", Kernel: []int{2, 2}, Strides: []int{1, 1}},
		{Name: "fl", Op: OpFlatten, Inputs: []string{"m2"}, Output: "f"},
		{Name: "d", Op: OpDense, Inputs: []string{"f"}, Output: "logits", W: dyadicTensor(r, -1, 1, 10, 27)},
	}}
}

// inputPoolTestNet pools the encoded input directly: constant values with
// analog input, signed real-valued events with rate and poisson; windows
// that overlap and windows that do not, borders that fall outside every
// window, and a sum pool of a sum pool.
func inputPoolTestNet(r *rand.Rand) *Network {
	return &Network{Name: "inputpooltest", Input: "x", InputShape: []int{2, 7, 7}, Output: "logits", Nodes: []*Node{
		{Name: "mx", Op: OpSpikeMaxPool, Inputs: []string{"x"}, Output: "mx", Kernel: []int{2, 2}, Strides: []int{2, 2}},
		{Name: "spx", Op: OpSumPool, Inputs: []string{"x"}, Output: "spx", Kernel: []int{3, 3}, Strides: []int{2, 2}},
		{Name: "sp2", Op: OpSumPool, Inputs: []string{"spx"}, Output: "sp2", Kernel: []int{2, 2}, Strides: []int{1, 1}},
		{Name: "sp3", Op: OpSumPool, Inputs: []string{"mx"}, Output: "sp3", Kernel: []int{2, 2}, Strides: []int{2, 2}},
		{Name: "f1", Op: OpFlatten, Inputs: []string{"mx"}, Output: "f1"},
		{Name: "f2", Op: OpFlatten, Inputs: []string{"sp2"}, Output: "f2"},
		{Name: "f3", Op: OpFlatten, Inputs: []string{"sp3"}, Output: "f3"},
		{Name: "cat", Op: OpConcat, Inputs: []string{"f1", "f2", "f3"}, Output: "cat", Axis: 0},
		{Name: "d1", Op: OpDense, Inputs: []string{"cat"}, Output: "d1", W: dyadicTensor(r, -0.5, 0.75, 6, 28), B: dyadicTensor(r, -0.25, 0.5, 6)},
		ifNode("if1", "d1", "s1", thresholds(r, 6), ResetSubtract, 0.5),
		{Name: "d2", Op: OpDense, Inputs: []string{"s1"}, Output: "logits", W: dyadicTensor(r, -1, 1, 10, 6)},
	}}
}

// currentPoolTestNet max-pools the first conv's current, which analog
// input keeps constant (signed; overlapping windows, padded borders), then
// an IF layer with per-channel thresholds, and the spikes of a second one.
func currentPoolTestNet(r *rand.Rand) *Network {
	return &Network{Name: "currentpooltest", Input: "x", InputShape: []int{2, 7, 7}, Output: "logits", Nodes: []*Node{
		{Name: "c1", Op: OpConv, Inputs: []string{"x"}, Output: "c1", W: dyadicTensor(r, -0.5, 0.75, 3, 2, 3, 3), B: dyadicTensor(r, -0.25, 0.5, 3), Pads: []int{1, 1, 1, 1}},
		{Name: "mp1", Op: OpSpikeMaxPool, Inputs: []string{"c1"}, Output: "m1", Kernel: []int{3, 3}, Strides: []int{2, 2}, Pads: []int{1, 1, 1, 1}},
		ifNode("if1", "m1", "s1", []float32{0.5, 0.25, 1}, ResetSubtract, 0.5),
		{Name: "c2", Op: OpConv, Inputs: []string{"s1"}, Output: "c2", W: dyadicTensor(r, -0.5, 0.75, 4, 3, 2, 2), B: dyadicTensor(r, -0.25, 0.5, 4)},
		ifNode("if2", "c2", "s2", thresholds(r, 4), ResetSubtract, 0.5),
		{Name: "mp2", Op: OpSpikeMaxPool, Inputs: []string{"s2"}, Output: "m2", Kernel: []int{2, 2}, Strides: []int{1, 1}},
		{Name: "fl", Op: OpFlatten, Inputs: []string{"m2"}, Output: "f"},
		{Name: "d", Op: OpDense, Inputs: []string{"f"}, Output: "logits", W: dyadicTensor(r, -1, 1, 10, 16)},
	}}
}

// quietTestNet has no biases (c2's is all zeros), so that its IF layers go
// quiet and skip steps that no event reaches: c2's large weights leave
// membranes above θ after a subtract reset (to fire again with no input),
// if3 (fed by a sum pool) starts above θ, and blank samples reach no layer.
func quietTestNet(r *rand.Rand) *Network {
	return &Network{Name: "quiettest", Input: "x", InputShape: []int{1, 8, 8}, Output: "logits", Nodes: []*Node{
		{Name: "c1", Op: OpConv, Inputs: []string{"x"}, Output: "c1", W: dyadicTensor(r, -0.5, 1, 3, 1, 3, 3), Pads: []int{1, 1, 1, 1}},
		ifNode("if1", "c1", "s1", thresholds(r, 3), ResetSubtract, 0.5),
		{Name: "c2", Op: OpConv, Inputs: []string{"s1"}, Output: "c2", W: dyadicTensor(r, -1, 3, 4, 3, 3, 3), B: &Tensor{Shape: []int{4}, Data: make([]float32, 4)}, Pads: []int{1, 1, 1, 1}},
		ifNode("if2", "c2", "s2", thresholds(r, 4), ResetSubtract, 0.5),
		{Name: "sp", Op: OpSumPool, Inputs: []string{"s2"}, Output: "sp", Kernel: []int{2, 2}, Strides: []int{2, 2}},
		ifNode("if3", "sp", "s3", thresholds(r, 4), ResetZero, 1.25),
		{Name: "fl", Op: OpFlatten, Inputs: []string{"s3"}, Output: "f"},
		{Name: "d1", Op: OpDense, Inputs: []string{"f"}, Output: "d1", W: dyadicTensor(r, -0.5, 1, 12, 64)},
		ifNode("if4", "d1", "s4", thresholds(r, 12), ResetSubtract, 0),
		{Name: "d2", Op: OpDense, Inputs: []string{"s4"}, Output: "logits", W: dyadicTensor(r, -1, 1, 10, 12)},
	}}
}

func mlpTestNet(r *rand.Rand) *Network {
	return &Network{Name: "mlptest", Input: "x", InputShape: []int{20}, Output: "logits", Nodes: []*Node{
		{Name: "d1", Op: OpDense, Inputs: []string{"x"}, Output: "d1", W: dyadicTensor(r, -0.5, 0.75, 16, 20), B: dyadicTensor(r, -0.25, 0.5, 16)},
		ifNode("if1", "d1", "s1", thresholds(r, 16), ResetSubtract, 0.5),
		{Name: "d2", Op: OpDense, Inputs: []string{"s1"}, Output: "logits", W: dyadicTensor(r, -1, 1, 10, 16)},
	}}
}

func testInputs(r *rand.Rand, shape []int, n int) *Samples {
	s := &Samples{Shape: shape, X: make([]float32, n*numel(shape))}
	for i := range s.X {
		if r.IntN(2) == 0 {
			s.X[i] = dyadic(r, -0.5, 1)
		}
	}
	return s
}

// TestMatchesReference runs every op and encoding against the naive
// simulator; with exact arithmetic the readout at every step and every
// neuron's spike count must be identical.
func TestMatchesReference(t *testing.T) {
	nets := []func(*rand.Rand) *Network{convTestNet, mergeTestNet, mlpTestNet, datalessTestNet, poolTestNet, inputPoolTestNet, currentPoolTestNet, quietTestNet}
	encs := []Encoding{EncodingAnalog, EncodingRate, EncodingPoisson}
	const T = 24
	for ni, mk := range nets {
		for _, enc := range encs {
			r := rand.New(rand.NewPCG(uint64(ni), 7))
			net := mk(r)
			t.Run(net.Name+"/"+string(enc), func(t *testing.T) {
				in := testInputs(r, net.InputShape, 6)
				// Two blank samples: nothing reaches a bias-free layer.
				sz := numel(in.Shape)
				clear(in.X[:sz])
				clear(in.X[3*sz : 4*sz])
				cps := make([]int, T)
				for i := range cps {
					cps[i] = i + 1
				}
				res, err := Run(net, in, RunOptions{T: T, Checkpoints: cps, Encoding: enc, Seed: 42, Record: net.IFNames(), Workers: 2, Batch: 4})
				if err != nil {
					t.Fatal(err)
				}
				// The reference runs what the runtime runs (currentpooltest's
				// first IF moves before its pool under rate and poisson;
				// TestForEncoding checks that move).
				rnet, _ := net.ForEncoding(enc)
				shapes, _ := inferShapes(rnet)
				ref := &refSim{net: rnet, shapes: shapes}
				var spikes int64
				for s := range in.Len() {
					want := ref.run(in.X[s*sz:(s+1)*sz], T, enc, 42, s)
					for c, step := range res.Checkpoints {
						got := res.Readout[c][s*res.Outputs : (s+1)*res.Outputs]
						if !slices.Equal(got, want.readout[step-1]) {
							t.Fatalf("sample %d step %d: readout %v, reference %v", s, step, got, want.readout[step-1])
						}
					}
					for name, wc := range want.counts {
						n := len(wc)
						got := res.NeuronSpikes[name][s*n : (s+1)*n]
						if !slices.Equal(got, wc) {
							t.Fatalf("sample %d layer %s: counts %v, reference %v", s, name, got, wc)
						}
						for _, c := range wc {
							spikes += int64(c)
						}
					}
				}
				var total int64
				for _, l := range res.Layers {
					total += l.Spikes
				}
				if total != spikes || total == 0 {
					t.Fatalf("layer spike totals %d, per-neuron sum %d (want equal and non-zero)", total, spikes)
				}
			})
		}
	}
}

// TestSingleLayerIdentity is DESIGN §2's identity: constant current I,
// threshold θ, subtract reset, v_init 0.5 ⇒ count = clamp(floor(T·I/θ + 0.5), 0, T).
func TestSingleLayerIdentity(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for trial := range 40 {
		in, out := 1+r.IntN(30), 1+r.IntN(40)
		T := 1 + r.IntN(300)
		w := dyadicTensor(r, -1, 1, out, in)
		b := dyadicTensor(r, -1, 1, out)
		th := thresholds(r, out)
		if trial%2 == 0 {
			th = th[:1]
		}
		net := &Network{Name: "single", Input: "x", InputShape: []int{in}, Output: "s", Nodes: []*Node{
			{Name: "d", Op: OpDense, Inputs: []string{"x"}, Output: "i", W: w, B: b},
			ifNode("if", "i", "s", th, ResetSubtract, 0.5),
		}}
		x := testInputs(r, []int{in}, 3)
		res, err := Run(net, x, RunOptions{T: T, Record: []string{"if"}})
		if err != nil {
			t.Fatal(err)
		}
		for s := range 3 {
			for o := range out {
				cur := float64(b.Data[o])
				for i := range in {
					cur += float64(w.Data[o*in+i]) * float64(x.X[s*in+i])
				}
				theta := float64(th[0])
				if len(th) > 1 {
					theta = float64(th[o])
				}
				want := min(max(math.Floor(float64(T)*cur/theta+0.5), 0), float64(T))
				got := res.NeuronSpikes["if"][s*out+o]
				if float64(got) != want {
					t.Fatalf("trial %d: I=%v θ=%v T=%d: %d spikes, identity says %v", trial, cur, theta, T, got, want)
				}
				// The readout integrates the spikes of the output value.
				if rd := res.Readout[len(res.Checkpoints)-1][s*out+o]; rd != float32(got) {
					t.Fatalf("readout %v != count %d", rd, got)
				}
			}
		}
	}
}

// TestDeterminism: same seed ⇒ identical results for any workers, GOMAXPROCS
// and batch split, for every encoding.
func TestDeterminism(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	net := convTestNet(r)
	// Arbitrary (non-dyadic) weights: float rounding must not depend on the split either.
	for _, n := range net.Nodes {
		if n.W != nil {
			for i := range n.W.Data {
				n.W.Data[i] *= 1.0137
			}
		}
	}
	in := testInputs(r, net.InputShape, 37)
	for i := range in.X {
		in.X[i] *= 0.917
	}
	for _, enc := range []Encoding{EncodingAnalog, EncodingRate, EncodingPoisson} {
		var base *RunResult
		for _, cfg := range []struct{ procs, workers, batch int }{{1, 1, 37}, {2, 2, 5}, {2, 2, 1}, {1, 3, 16}, {2, 0, 0}} {
			prev := runtime.GOMAXPROCS(cfg.procs)
			res, err := Run(net, in, RunOptions{T: 40, Encoding: enc, Seed: 99, Workers: cfg.workers, Batch: cfg.batch, Record: net.IFNames(), EarlyExit: 0})
			runtime.GOMAXPROCS(prev)
			if err != nil {
				t.Fatal(err)
			}
			if base == nil {
				base = res
				continue
			}
			if err := sameResult(base, res); err != nil {
				t.Fatalf("%s, GOMAXPROCS %d workers %d batch %d: %v", enc, cfg.procs, cfg.workers, cfg.batch, err)
			}
		}
		other, err := Run(net, in, RunOptions{T: 40, Encoding: enc, Seed: 100})
		if err != nil {
			t.Fatal(err)
		}
		if enc == EncodingPoisson && sameResult(base, other) == nil {
			t.Fatal("poisson: a different seed gave identical results")
		}
	}
}

func sameResult(a, b *RunResult) error {
	for c := range a.Readout {
		if !slices.Equal(a.Readout[c], b.Readout[c]) {
			return fmt.Errorf("readout at step %d differs", a.Checkpoints[c])
		}
		if !slices.Equal(a.Predictions[c], b.Predictions[c]) {
			return fmt.Errorf("predictions at step %d differ", a.Checkpoints[c])
		}
	}
	if !slices.Equal(a.FinalStep, b.FinalStep) || !slices.Equal(a.StepsUsed, b.StepsUsed) {
		return fmt.Errorf("final steps differ")
	}
	if !slices.Equal(a.Layers, b.Layers) || !slices.Equal(a.Ops, b.Ops) {
		return fmt.Errorf("statistics differ: %v vs %v", a.Layers, b.Layers)
	}
	for k, v := range a.NeuronSpikes {
		if !slices.Equal(v, b.NeuronSpikes[k]) {
			return fmt.Errorf("neuron spikes of %s differ", k)
		}
	}
	return nil
}

// TestConvKernelMatchesDense: the event-driven scatter equals a direct
// convolution on random spike maps, over borders, strides, dilations, groups.
func TestConvKernelMatchesDense(t *testing.T) {
	cases := []struct {
		c, h, w, o, grp, kh, kw int
		strides, pads, dil      []int
	}{
		{1, 5, 5, 1, 1, 3, 3, nil, nil, nil},
		{3, 8, 7, 4, 1, 3, 3, []int{1, 1}, []int{1, 1, 1, 1}, nil},
		{4, 9, 10, 6, 2, 3, 2, []int{2, 3}, []int{0, 2, 1, 0}, []int{1, 2}},
		{6, 7, 7, 6, 6, 3, 3, []int{1, 1}, []int{2, 2, 2, 2}, []int{2, 2}},
		{2, 4, 11, 8, 1, 1, 5, []int{1, 2}, []int{0, 3, 0, 1}, nil},
		{8, 6, 6, 4, 4, 2, 2, []int{2, 2}, nil, []int{3, 1}},
		{3, 6, 9, 16, 1, 3, 3, nil, []int{1, 1, 1, 1}, nil},
		{5, 7, 8, 8, 1, 3, 3, []int{2, 2}, []int{1, 0, 1, 2}, nil},
	}
	r := rand.New(rand.NewPCG(5, 6))
	for i, tc := range cases {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			n := &Node{Name: "c", Op: OpConv, Inputs: []string{"x"}, Output: "y",
				W: dyadicTensor(r, -1, 1, tc.o, tc.c/tc.grp, tc.kh, tc.kw), Group: tc.grp,
				Strides: tc.strides, Pads: tc.pads, Dilations: tc.dil}
			xs := []int{tc.c, tc.h, tc.w}
			os, err := nodeShape(n, map[string][]int{"x": xs})
			if err != nil {
				t.Fatal(err)
			}
			k := newConvKernel(n, xs, os)
			for _, density := range []int{2, 5, 30} {
				x := make([]float32, numel(xs))
				var act []int32
				pin := toInternal(xs)
				xi := make([]float32, len(x))
				for l := range x {
					if r.IntN(density) == 0 {
						x[l] = 1
						ii := int32(l)
						if pin != nil {
							ii = pin[l]
						}
						xi[ii] = 1
						act = append(act, ii)
					}
				}
				want := make([]float32, numel(os))
				refConv(n, x, xs, want, os)
				got := make([]float32, numel(os))
				acs := k.spikes(got, act, newScratch(len(xi)))
				// The step's runs batched into one kernel call, in chunks.
				got3 := make([]float32, numel(os))
				acs3 := k.spikes(got3, act, k.newScratch(len(xi), 2))
				if !slices.Equal(got3, got) || acs3 != acs {
					t.Fatalf("density 1/%d: batched runs (one group: %v) give other sums or ACs (%d, %d)", density, k.pix != nil, acs3, acs)
				}
				got2 := make([]float32, numel(os))
				k.all(got2, xi, k.newScratch(len(xi), runsPerCall))
				pout := toInternal(os)
				var nz int64
				for l := range want {
					ii := l
					if pout != nil {
						ii = int(pout[l])
					}
					if got[ii] != want[l] || got2[ii] != want[l] {
						t.Fatalf("output %d: scatter %v, all %v, direct %v", l, got[ii], got2[ii], want[l])
					}
				}
				// ACs = exact fan-out: the products a direct conv forms with spiking inputs.
				nz = directTouches(n, x, xs, os)
				if acs != nz {
					t.Fatalf("ACs %d, direct conv touches %d weights for the spiking inputs", acs, nz)
				}
			}
		})
	}
}

// directTouches counts (weight, spiking input) products of a direct conv.
func directTouches(n *Node, x []float32, xs, os []int) int64 {
	grp := max(n.Group, 1)
	O, cg, kh, kw := n.W.Shape[0], n.W.Shape[1], n.W.Shape[2], n.W.Shape[3]
	g, _ := resolveGeom(n, kh, kw)
	var c int64
	for o := range O {
		gi := o / (O / grp)
		for oy := range os[1] {
			for ox := range os[2] {
				for ci := range cg {
					for ky := range kh {
						for kx := range kw {
							iy, ix := oy*g.sh-g.pt+ky*g.dh, ox*g.sw-g.pl+kx*g.dw
							if iy >= 0 && iy < xs[1] && ix >= 0 && ix < xs[2] && x[((gi*cg+ci)*xs[1]+iy)*xs[2]+ix] != 0 {
								c++
							}
						}
					}
				}
			}
		}
	}
	return c
}

// TestSpikeMaxPoolRule: hand traces of DESIGN §2's rule — a window passes
// the spikes of its input with the largest count so far (this step
// included), ties to the lowest index. Two IF neurons (θ 1, v_init 0) with
// constant currents feed one 1×2 window; the readout integrates the pooled
// spikes, so it is the pooled count after each step.
func TestSpikeMaxPoolRule(t *testing.T) {
	net := &Network{Name: "mp", Input: "x", InputShape: []int{1, 1, 2}, Output: "y", Nodes: []*Node{
		{Name: "c", Op: OpConv, Inputs: []string{"x"}, Output: "c", W: &Tensor{Shape: []int{1, 1, 1, 1}, Data: []float32{1}}},
		ifNode("if", "c", "s", []float32{1}, ResetSubtract, 0),
		{Name: "mp", Op: OpSpikeMaxPool, Inputs: []string{"s"}, Output: "y", Kernel: []int{1, 2}},
	}}
	cases := []struct {
		name string
		cur  []float32
		want []float32 // pooled count after steps 1..len(want)
	}{
		// n0 spikes at 2, 4; n1 at 2, 3, 4. t2: counts (1,1), tie → n0,
		// which spiked. t3: (1,2) → n1 overtakes and passes. t4: (2,3) → n1.
		{"overtake", []float32{0.5, 0.75}, []float32{0, 1, 2, 3}},
		// n0 every step leads; n1's spikes (2, 3, 4) never pass.
		{"leader only", []float32{1, 0.75}, []float32{1, 2, 3, 4}},
		// n0 spikes at 2, 4, 6, 8; n1 (0.375) at 3, 6, 8. t3: counts (1,1),
		// the tie goes to the silent n0, so n1's spike is blocked.
		{"tie blocks", []float32{0.5, 0.375}, []float32{0, 1, 1, 2, 2, 3, 3, 4}},
		// Mirror image: the tie at t3 goes to n0, which now is the spiking one.
		{"tie passes", []float32{0.375, 0.5}, []float32{0, 1, 2, 3, 3, 4, 4, 5}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			T := len(tc.want)
			cps := make([]int, T)
			for i := range cps {
				cps[i] = i + 1
			}
			res, err := Run(net, &Samples{Shape: []int{1, 1, 2}, X: tc.cur}, RunOptions{T: T, Checkpoints: cps})
			if err != nil {
				t.Fatal(err)
			}
			for c, want := range tc.want {
				if got := res.Readout[c][0]; got != want {
					t.Fatalf("step %d: pooled count %v, want %v", c+1, got, want)
				}
			}
		})
	}
}

// TestEarlyExit: a sample stops only after K unchanged steps and once its
// margin is out of reach of the remaining steps, so its final prediction is
// the full run's; a readout without a bound never stops early.
func TestEarlyExit(t *testing.T) {
	const T, K = 64, 8
	r := rand.New(rand.NewPCG(9, 9))
	net := convTestNet(r)
	in := testInputs(r, net.InputShape, 20)
	full, err := Run(net, in, RunOptions{T: T})
	if err != nil {
		t.Fatal(err)
	}
	ee, err := Run(net, in, RunOptions{T: T, EarlyExit: K})
	if err != nil {
		t.Fatal(err)
	}
	if ee.MeanSteps >= T || ee.MeanSteps < K {
		t.Fatalf("mean steps with early exit %v: want in [%d, %d)", ee.MeanSteps, K, T)
	}
	last := len(full.Checkpoints) - 1
	for s := range in.Len() {
		u := ee.StepsUsed[s]
		if u < T && u-ee.FinalStep[s] < K {
			t.Fatalf("sample %d stopped at %d, prediction final since %d: want at least %d steps apart", s, u, ee.FinalStep[s], K)
		}
		if ee.Predictions[last][s] != full.Predictions[last][s] {
			t.Fatalf("sample %d stopped at %d predicting %d; the full run ends at %d", s, u, ee.Predictions[last][s], full.Predictions[last][s])
		}
		// Up to the stop, the run is the full run.
		for c, step := range ee.Checkpoints {
			if step <= u && ee.Predictions[c][s] != full.Predictions[c][s] {
				t.Fatalf("sample %d step %d: early-exit run predicts %d, full run %d", s, step, ee.Predictions[c][s], full.Predictions[c][s])
			}
		}
	}
	if full.MeanSteps != T {
		t.Fatalf("mean steps without early exit %v", full.MeanSteps)
	}
	m := mergeTestNet(r)
	mi := testInputs(r, m.InputShape, 6)
	res, err := Run(m, mi, RunOptions{T: T, EarlyExit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if res.MeanSteps != T {
		t.Fatalf("%s has an unfused readout (no bound) but stopped early: mean steps %v", m.Name, res.MeanSteps)
	}

	// ExitStable: every sample stops at its first chance, K steps after its
	// prediction last changed, with or without a bound.
	st, err := Run(net, in, RunOptions{T: T, EarlyExit: K, ExitRule: ExitStable})
	if err != nil {
		t.Fatal(err)
	}
	if st.MeanSteps >= ee.MeanSteps {
		t.Fatalf("mean steps: stable %v, exact %v; want fewer", st.MeanSteps, ee.MeanSteps)
	}
	for s := range in.Len() {
		if u, want := st.StepsUsed[s], min(st.FinalStep[s]+K, T); u != want {
			t.Fatalf("stable: sample %d stopped at %d, prediction final since %d: want %d", s, u, st.FinalStep[s], want)
		}
		for c, step := range st.Checkpoints {
			if step <= st.StepsUsed[s] && st.Predictions[c][s] != full.Predictions[c][s] {
				t.Fatalf("stable: sample %d step %d: predicts %d, full run %d", s, step, st.Predictions[c][s], full.Predictions[c][s])
			}
		}
	}
	res, err = Run(m, mi, RunOptions{T: T, EarlyExit: 1, ExitRule: ExitStable})
	if err != nil {
		t.Fatal(err)
	}
	if res.MeanSteps >= T {
		t.Fatalf("%s (no bound) under the stable rule did not stop early: mean steps %v", m.Name, res.MeanSteps)
	}
	if _, err := Run(net, in, RunOptions{T: T, EarlyExit: K, ExitRule: "eager"}); err == nil || !strings.Contains(err.Error(), `unknown exit rule "eager"`) {
		t.Fatalf("exit rule eager: %v", err)
	}
}

func TestRunErrors(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	good := mlpTestNet(r)
	in := testInputs(r, good.InputShape, 2)
	cases := []struct {
		name string
		edit func(n *Network) (*Network, Input, RunOptions)
		want string
	}{
		{"T zero", func(n *Network) (*Network, Input, RunOptions) { return n, in, RunOptions{} }, "T = 0"},
		{"bad encoding", func(n *Network) (*Network, Input, RunOptions) {
			return n, in, RunOptions{T: 4, Encoding: "morse"}
		}, "unknown encoding"},
		{"input shape", func(n *Network) (*Network, Input, RunOptions) {
			return n, &Samples{Shape: []int{21}, X: make([]float32, 21)}, RunOptions{T: 4}
		}, "wants samples of shape [20]"},
		{"record non-IF", func(n *Network) (*Network, Input, RunOptions) {
			return n, in, RunOptions{T: 4, Record: []string{"d1"}}
		}, "not an IF node"},
		{"checkpoint beyond T", func(n *Network) (*Network, Input, RunOptions) {
			return n, in, RunOptions{T: 4, Checkpoints: []int{5}}
		}, "checkpoint 5"},
		{"semantics version", func(n *Network) (*Network, Input, RunOptions) {
			n.Meta.SemanticsVersion = 2
			return n, in, RunOptions{T: 4}
		}, "semantics version 2"},
		{"weights shape", func(n *Network) (*Network, Input, RunOptions) {
			n.Nodes[0].W.Shape = []int{16, 19}
			return n, in, RunOptions{T: 4}
		}, `node "d1" (Dense)`},
		{"undefined input", func(n *Network) (*Network, Input, RunOptions) {
			n.Nodes[1].Inputs = []string{"nope"}
			return n, in, RunOptions{T: 4}
		}, `input "nope" is not defined`},
		{"zero threshold", func(n *Network) (*Network, Input, RunOptions) {
			n.Nodes[1].Threshold[0] = 0
			return n, in, RunOptions{T: 4}
		}, "must be positive"},
		{"maxpool on current", func(n *Network) (*Network, Input, RunOptions) {
			c := &Network{Name: "x", Input: "x", InputShape: []int{1, 4, 4}, Output: "p", Nodes: []*Node{
				{Name: "c", Op: OpConv, Inputs: []string{"x"}, Output: "c", W: &Tensor{Shape: []int{1, 1, 1, 1}, Data: []float32{1}}},
				{Name: "a", Op: OpAffine, Inputs: []string{"c"}, Output: "a", W: &Tensor{Shape: []int{1}, Data: []float32{1}}},
				{Name: "mp", Op: OpSpikeMaxPool, Inputs: []string{"r"}, Output: "p", Kernel: []int{2, 2}},
			}}
			c.Nodes[2].Inputs = []string{"a"}
			return c, &Samples{Shape: []int{1, 4, 4}, X: make([]float32, 16)}, RunOptions{T: 2, Encoding: EncodingRate}
		}, "changes every step under rate encoding"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			net, x, opt := tc.edit(mlpTestNet(rand.New(rand.NewPCG(1, 1))))
			_, err := Run(net, x, opt)
			if err == nil || !contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

func contains(s, sub string) bool {
	return len(sub) == 0 || (len(s) >= len(sub) && (s[:len(sub)] == sub || contains(s[1:], sub)))
}

func TestEnergyEstimate(t *testing.T) {
	if got := EnergyEstimate(1e6, 1e6); math.Abs(got-5.5e-6) > 1e-15 {
		t.Fatalf("1e6 ACs + 1e6 MACs = %v J, want 5.5e-6", got)
	}
}

// TestReadoutBound checks the early-exit bound against hand-computed values:
// binary spikes into W = [[1, -1], [0, 2]], b = [0, 0.5] give
// max(I_1 - I_0) = 0.5 + max(0, -1) + max(0, 3) = 3.5 and
// max(I_0 - I_1) = -0.5 + 1 + 0 = 0.5; a sum pool of 2 inputs doubles the
// weight part; encoded input (no known peak) has no bound.
func TestReadoutBound(t *testing.T) {
	mk := func(pool bool) *Network {
		net := &Network{Name: "bound", Input: "x", InputShape: []int{2}, Output: "y", Nodes: []*Node{
			{Name: "a", Op: OpDense, Inputs: []string{"x"}, Output: "a", W: &Tensor{Shape: []int{2, 2}, Data: []float32{1, 0, 0, 1}}},
			ifNode("if", "a", "s", []float32{1}, ResetSubtract, 0.5),
			{Name: "d", Op: OpDense, Inputs: []string{"s"}, Output: "y",
				W: &Tensor{Shape: []int{2, 2}, Data: []float32{1, -1, 0, 2}}, B: &Tensor{Shape: []int{2}, Data: []float32{0, 0.5}}},
		}}
		if pool {
			net.InputShape = []int{1, 2, 2}
			net.Nodes = []*Node{
				{Name: "a", Op: OpConv, Inputs: []string{"x"}, Output: "a", W: &Tensor{Shape: []int{1, 1, 1, 1}, Data: []float32{1}}},
				ifNode("if", "a", "s", []float32{1}, ResetSubtract, 0.5),
				{Name: "p", Op: OpSumPool, Inputs: []string{"s"}, Output: "p", Kernel: []int{1, 2}, Strides: []int{1, 2}},
				{Name: "f", Op: OpFlatten, Inputs: []string{"p"}, Output: "f"},
				net.Nodes[2],
			}
			net.Nodes[4].Inputs = []string{"f"}
		}
		return net
	}
	for _, tc := range []struct {
		name string
		net  *Network
		enc  Encoding
		want []float64
	}{
		{"spikes", mk(false), EncodingAnalog, []float64{0, 3.5, 0.5, 0}},
		{"sum pool of 2", mk(true), EncodingAnalog, []float64{0, 6.5, 1.5, 0}},
		{"rate input", mk(false), EncodingRate, []float64{0, 3.5, 0.5, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := compile(tc.net, tc.enc, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(p.exitBound, tc.want) {
				t.Fatalf("bound %v, want %v", p.exitBound, tc.want)
			}
		})
	}
	p, err := compile(&Network{Name: "direct", Input: "x", InputShape: []int{2}, Output: "y", Nodes: []*Node{
		{Name: "d", Op: OpDense, Inputs: []string{"x"}, Output: "y", W: &Tensor{Shape: []int{2, 2}, Data: []float32{1, 0, 0, 1}}},
	}}, EncodingRate, nil)
	if err != nil {
		t.Fatal(err)
	}
	if p.exitBound != nil {
		t.Fatalf("readout straight on rate-encoded input: bound %v, want none", p.exitBound)
	}
}

// TestPortableKernels: with the AVX2 kernels switched off (as on other
// CPUs and architectures) every test network gives bit for bit the same
// results, statistics included.
func TestPortableKernels(t *testing.T) {
	if !useAVX2 {
		t.Skip("no AVX2 here: the portable kernels are the only ones, and the other tests cover them")
	}
	nets := []func(*rand.Rand) *Network{convTestNet, mergeTestNet, mlpTestNet, datalessTestNet, poolTestNet, inputPoolTestNet, currentPoolTestNet, quietTestNet}
	for ni, mk := range nets {
		net := mk(rand.New(rand.NewPCG(uint64(ni), 9)))
		for _, n := range net.Nodes {
			if n.W != nil {
				for i := range n.W.Data {
					n.W.Data[i] *= 1.0137 // not dyadic: rounding order must agree too
				}
			}
		}
		in := testInputs(rand.New(rand.NewPCG(uint64(ni), 10)), net.InputShape, 9)
		for _, enc := range []Encoding{EncodingAnalog, EncodingPoisson} {
			opt := RunOptions{T: 20, Encoding: enc, Seed: 3, Record: net.IFNames()}
			vec, err := Run(net, in, opt)
			if err != nil {
				t.Fatal(err)
			}
			useAVX2 = false
			scalar, err := Run(net, in, opt)
			useAVX2 = true
			if err != nil {
				t.Fatal(err)
			}
			if err := sameResult(vec, scalar); err != nil {
				t.Fatalf("%s/%s: AVX2 and portable kernels differ: %v", net.Name, enc, err)
			}
		}
	}
}

// TestProgramReuse: a compiled program run again, concurrently, or after the
// network it came from was changed, gives exactly what a fresh Run gives on
// the original network (statistics included: reused workers start at zero).
func TestProgramReuse(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 1))
	net := mergeTestNet(r)
	in := testInputs(r, net.InputShape, 23)
	opt := RunOptions{T: 24, Batch: 5, Workers: 2, Record: net.IFNames()}
	want, err := Run(net, in, opt)
	if err != nil {
		t.Fatal(err)
	}
	prog, err := Compile(net, "", net.IFNames())
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range net.Nodes {
		if n.Op == OpIF {
			n.Threshold[0] *= 3
		}
		for i := range n.Scales {
			n.Scales[i] *= -1
		}
	}
	changed, err := Run(net, in, opt)
	if err != nil {
		t.Fatal(err)
	}
	if sameResult(want, changed) == nil {
		t.Fatal("changing thresholds and scales changed nothing: the test cannot tell a snapshot from a live view")
	}
	results := make([]*RunResult, 4)
	errs := make([]error, 4)
	var wg sync.WaitGroup
	for i := range results {
		wg.Go(func() { results[i], errs[i] = prog.Run(in, RunOptions{T: 24, Batch: 4 + i}) })
	}
	wg.Wait()
	again, err := prog.Run(in, opt)
	if err != nil {
		t.Fatal(err)
	}
	for i, res := range append(results, again) {
		if i < len(errs) && errs[i] != nil {
			t.Fatal(errs[i])
		}
		if err := sameResult(want, res); err != nil {
			t.Fatalf("run %d of the program: %v", i, err)
		}
	}
	if want.ACs == 0 || again.ACs != want.ACs || again.MACs != want.MACs {
		t.Fatalf("ACs %d MACs %d after reuse, want %d and %d", again.ACs, again.MACs, want.ACs, want.MACs)
	}
}

func TestProgramRefusesOtherSettings(t *testing.T) {
	net := mergeTestNet(rand.New(rand.NewPCG(8, 2)))
	in := testInputs(rand.New(rand.NewPCG(8, 3)), net.InputShape, 2)
	prog, err := Compile(net, EncodingRate, nil)
	if err != nil {
		t.Fatal(err)
	}
	if prog.Encoding() != EncodingRate {
		t.Fatalf("encoding %s, want rate", prog.Encoding())
	}
	for _, c := range []struct {
		opt  RunOptions
		want string
	}{
		{RunOptions{T: 4, Encoding: EncodingPoisson}, "compiled for rate encoding, run asked for poisson"},
		{RunOptions{T: 4, Record: net.IFNames()[:1]}, "compiled to record [], run asked for"},
		{RunOptions{T: 0}, "T = 0"},
	} {
		_, err := prog.Run(in, c.opt)
		if err == nil || !contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want one containing %q", c.opt, err, c.want)
		}
	}
	if _, err := prog.Run(in, RunOptions{T: 4, Encoding: EncodingRate, Record: []string{}}); err != nil {
		t.Errorf("matching settings refused: %v", err)
	}
}

// FinalBy is the nearest-rank quantile of the samples' final steps.
func TestFinalBy(t *testing.T) {
	r := &RunResult{FinalStep: []int{7, 1, 1, 3, 1, 2, 1, 1, 1, 12}}
	for _, c := range []struct {
		q    float64
		want int
	}{{0.5, 1}, {0.6, 1}, {0.61, 2}, {0.7, 2}, {0.71, 3}, {0.8, 3}, {0.81, 7}, {0.9, 7}, {0.91, 12}, {0.99, 12}, {1, 12}, {0, 1}} {
		if got := r.FinalBy(c.q); got != c.want {
			t.Errorf("FinalBy(%v) = %d, want %d", c.q, got, c.want)
		}
	}
	if !slices.Equal(r.FinalStep, []int{7, 1, 1, 3, 1, 2, 1, 1, 1, 12}) {
		t.Errorf("FinalBy reordered FinalStep: %v", r.FinalStep)
	}
	// 0.07·100 is 7.000000000000001 in float64: still the 7th of 100.
	h := &RunResult{FinalStep: make([]int, 100)}
	for i := range h.FinalStep {
		h.FinalStep[i] = i + 1
	}
	if got := h.FinalBy(0.07); got != 7 {
		t.Errorf("FinalBy(0.07) of 1..100 = %d, want 7", got)
	}
	if got := (&RunResult{}).FinalBy(0.5); got != 0 {
		t.Errorf("no samples: %d", got)
	}
}

// SpikingMaxPools: a pool of the analog input or of a current computed from
// it before any IF is exact; every other one acts on spikes.
func TestSpikingMaxPools(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	for _, c := range []struct {
		net          *Network
		analog, rate []string
	}{
		{currentPoolTestNet(r), []string{"mp2"}, []string{"mp1", "mp2"}},
		{inputPoolTestNet(r), nil, []string{"mx"}},
		{poolTestNet(r), []string{"mp1", "mp2"}, []string{"mp1", "mp2"}},
		{mlpTestNet(r), nil, nil},
	} {
		if got := c.net.SpikingMaxPools(EncodingAnalog); !slices.Equal(got, c.analog) {
			t.Errorf("%s analog: %v, want %v", c.net.Name, got, c.analog)
		}
		if got := c.net.SpikingMaxPools(EncodingRate); !slices.Equal(got, c.rate) {
			t.Errorf("%s rate: %v, want %v", c.net.Name, got, c.rate)
		}
	}
}

// TestValueKinds: what each value is under each encoding — constant (C),
// events (S) or a current that changes every step (D) — on an Affine with a
// bias on the input, sums of equal and of mixed kinds, Affines with and
// without a bias on spikes, and a pool of the first conv's current.
func TestValueKinds(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 4))
	kindsTestNet := &Network{Name: "kindstest", Input: "x", InputShape: []int{2, 4, 4}, Output: "logits", Nodes: []*Node{
		{Name: "aff", Op: OpAffine, Inputs: []string{"x"}, Output: "a", W: dyadicTensor(r, 0.5, 1.5, 2), B: dyadicTensor(r, -0.25, 0.25, 2)},
		{Name: "c1", Op: OpConv, Inputs: []string{"a"}, Output: "c1", W: dyadicTensor(r, -0.5, 0.75, 2, 2, 1, 1)},
		{Name: "add1", Op: OpAdd, Inputs: []string{"c1", "a"}, Output: "s"},
		ifNode("if1", "s", "k", thresholds(r, 2), ResetSubtract, 0.5),
		{Name: "add2", Op: OpAdd, Inputs: []string{"k", "s"}, Output: "m"},
		ifNode("if2", "m", "k2", thresholds(r, 2), ResetSubtract, 0.5),
		{Name: "fl", Op: OpFlatten, Inputs: []string{"k2"}, Output: "f"},
		{Name: "d", Op: OpDense, Inputs: []string{"f"}, Output: "logits", W: dyadicTensor(r, -1, 1, 10, 32)},
	}}
	letter := map[kind]string{kindConst: "C", kindSparse: "S", kindDense: "D"}
	for _, c := range []struct {
		net  *Network
		enc  Encoding
		want string
	}{
		{kindsTestNet, EncodingAnalog, "x:C a:C c1:C s:C k:S m:D k2:S f:S logits:D"},
		{kindsTestNet, EncodingRate, "x:S a:D c1:D s:D k:S m:D k2:S f:S logits:D"},
		{mergeTestNet(r), EncodingAnalog, "c1:C a:S c2:D sum:D ab:S ab2:S ab3:D cd:S"},
		{currentPoolTestNet(r), EncodingAnalog, "x:C c1:C m1:C s1:S"},
		{currentPoolTestNet(r), EncodingPoisson, "x:S c1:D m1:D s1:S"},
	} {
		kinds := valueKinds(c.net, c.enc)
		var got []string
		for _, f := range strings.Fields(c.want) {
			name := f[:strings.Index(f, ":")]
			got = append(got, name+":"+letter[kinds[name]])
		}
		if g := strings.Join(got, " "); g != c.want {
			t.Errorf("%s/%s: %s, want %s", c.net.Name, c.enc, g, c.want)
		}
	}
}

// TestForEncoding: under rate and poisson input a max pool of a current
// trades places with the IF node after it, which then has the pool's input
// shape; the result runs exactly as the network written that way does.
// Analog input, or a pool with other readers, changes nothing.
func TestForEncoding(t *testing.T) {
	net := currentPoolTestNet(rand.New(rand.NewPCG(5, 5)))
	if got, notes := net.ForEncoding(EncodingAnalog); got != net || notes != nil {
		t.Fatalf("analog: the network changed (%v)", notes)
	}
	// Written by hand: what convert builds for rate input.
	want := currentPoolTestNet(rand.New(rand.NewPCG(5, 5)))
	want.Nodes[1], want.Nodes[2] = ifNode("if1", "c1", "m1", []float32{0.5, 0.25, 1}, ResetSubtract, 0.5),
		&Node{Name: "mp1", Op: OpSpikeMaxPool, Inputs: []string{"m1"}, Output: "s1", Kernel: []int{3, 3}, Strides: []int{2, 2}, Pads: []int{1, 1, 1, 1}}
	before := fmt.Sprint(net.Nodes[1], net.Nodes[2])
	in := testInputs(rand.New(rand.NewPCG(5, 6)), net.InputShape, 7)
	for _, enc := range []Encoding{EncodingRate, EncodingPoisson} {
		got, notes := net.ForEncoding(enc)
		if wantNote := `under ` + string(enc) + ` input, IF "if1" fires before max pool "mp1", on its [3 7 7] inputs`; len(notes) != 1 || !strings.HasPrefix(notes[0], wantNote) {
			t.Fatalf("%s: notes %q, want one starting %q", enc, notes, wantNote)
		}
		var ops []string
		for _, n := range got.Nodes {
			ops = append(ops, fmt.Sprintf("%s:%s(%v)->%s%v", n.Name, n.Op, n.Inputs, n.Output, n.Shape))
		}
		wantOps := "c1:Conv([x])->c1[] if1:IF([c1])->m1[3 7 7] mp1:SpikeMaxPool([m1])->s1[3 4 4] c2:Conv([s1])->c2[]"
		if s := strings.Join(ops[:4], " "); s != wantOps {
			t.Fatalf("%s: nodes %s, want %s", enc, s, wantOps)
		}
		if after := fmt.Sprint(net.Nodes[1], net.Nodes[2]); after != before {
			t.Fatalf("%s: the original network changed", enc)
		}
		opt := RunOptions{T: 30, Encoding: enc, Seed: 9, Record: net.IFNames()}
		a, err := Run(net, in, opt)
		if err != nil {
			t.Fatal(err)
		}
		b, err := Run(want, in, opt)
		if err != nil {
			t.Fatal(err)
		}
		if err := sameResult(a, b); err != nil {
			t.Fatalf("%s: differs from the network written with the IF first: %v", enc, err)
		}
		if n := a.Layers[0].Neurons; n != 3*7*7 {
			t.Fatalf("%s: IF layer if1 has %d neurons, want the pool's %d inputs", enc, n, 3*7*7)
		}
	}
	// A second reader of the pool's output keeps the pool where it is, and
	// the runtime refuses it.
	two := currentPoolTestNet(rand.New(rand.NewPCG(5, 5)))
	two.Nodes = append(two.Nodes[:3], append([]*Node{ifNode("if1b", "m1", "s1b", []float32{1}, ResetSubtract, 0.5)}, two.Nodes[3:]...)...)
	if got, _ := two.ForEncoding(EncodingRate); got != two {
		t.Fatal("a pool read by two nodes moved")
	}
	if _, err := Run(two, in, RunOptions{T: 4, Encoding: EncodingRate}); err == nil || !strings.Contains(err.Error(), "changes every step under rate encoding") {
		t.Fatalf("a pool of a current read by two IF nodes: %v", err)
	}
}
