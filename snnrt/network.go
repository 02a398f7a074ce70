// Package snnrt defines the spiking network that snnconvert produces (its
// types, neuron semantics and file format) and runs it.
//
// In: a *Network (built by package convert, or read from a *.snn.onnx file by
// Read) and encoded input images.
// Out: per-checkpoint readouts, spike statistics, synaptic operation counts.
// Compile turns a Network into a reusable Program (kernels built once); Run
// compiles and runs in one call.
//
// The semantics are version 1 of ../shared/DESIGN.md §2 (copied into
// docs/ARCHITECTURE.md); the file format is §3. snnrt imports no other package
// of this module: like a VM defines its bytecode, the runtime defines its input.
//
// Reading SNN files: DESIGN §3 suggests reading through the importer. snnrt
// deliberately decodes its own files with protowire instead (decode.go): the
// runtime must not depend on the importer, and an SNN file is a small, fixed
// dialect of ONNX (format.go lists the mapping) whose custom ai.snn operators
// the importer does not know anyway.
//
// Choices where DESIGN §2 leaves room, fixed here:
//   - The spiking max pool compares spike counts including the current step,
//     so a window's first spike passes at once. On a constant value (a max
//     pool applied to the analog input itself, or to a current computed from
//     it alone) it takes each window's largest value, as the ANN's max pool
//     does. Such a network run with rate or poisson input fires its IF
//     neurons before the pool instead (Network.ForEncoding).
//   - rate and poisson input events carry sign(x)·max|x| of the sample, so the
//     mean input equals x and analog-calibrated thresholds stay valid. A rate
//     train with phase 1/2 spikes floor(t·|x|/max|x| + 1/2) times in t steps.
//   - With analog input the first layer's current is computed once per
//     sample; its MACs are counted once (that is the work done). Dense inputs
//     skip zero entries, and only the work done is counted.
//   - Early exit (DESIGN §4: prediction unchanged for k steps and a margin
//     above a bound) uses a worst-case bound: a sample stops only when no
//     spikes in the remaining steps could change its prediction, which needs
//     a fused Dense readout on spikes or pooled spikes (other readouts never
//     stop early); ExitStable drops the bound for speed. A stopped sample is
//     frozen: later checkpoints repeat its readout and prediction at the
//     stopping step.
//   - ACs count every weight added by an event-driven kernel (Conv, Dense,
//     and the additions of SumPool and of a residual Add), MACs every product
//     of a dense kernel (Conv/Dense on analog input, Affine on currents).
//
// Execution: rank-3 values are held channel-last inside a run (layout.go);
// a Conv or Dense whose only consumer is an IF node scatters straight into
// that node's membrane; samples run independently on one worker per core, so
// every per-sample result is bit-identical for any worker count or batch.
// Float addition is not associative, so the order of a step's events is part
// of the result: IF layers, pools and residual Adds list theirs in ascending
// index order, remaps in their input's order, and every kernel adds a list
// in its order.
package snnrt

import (
	"fmt"
	"slices"
)

// SemanticsVersion is the neuron-semantics version this runtime implements.
// Files that declare another version are refused.
const SemanticsVersion = 1

// Op is a node kind of the spiking network.
type Op string

// Node kinds. Values flowing between nodes are per-sample float32 arrays; a
// value is either a current (real-valued) or spikes (0/1 per step), as
// Node.Spiking says.
const (
	// OpConv: W [O, C/Group, KH, KW], B [O]; Strides, Pads (t, l, b, r),
	// Dilations, Group. Output: current.
	OpConv Op = "Conv"
	// OpDense: W [Out, In], B [Out]. Output: current.
	OpDense Op = "Dense"
	// OpSumPool: sum over Kernel windows (Strides, Pads); the 1/k² of an
	// average pool is folded into the next synaptic layer. Output: same kind
	// as the input (a sum of spikes is a count).
	OpSumPool Op = "SumPool"
	// OpSpikeMaxPool: Kernel, Strides, Pads; passes, per window, the spikes of
	// the input neuron with the largest spike count so far (ties to the lowest
	// index). Input and output: spikes; or a current that is the same every
	// step (computed from the analog input before any IF), whose window max
	// it passes, exactly (under other encodings see Network.ForEncoding).
	OpSpikeMaxPool Op = "SpikeMaxPool"
	// OpFlatten / OpReshape: layout only (Shape is the output shape).
	OpFlatten Op = "Flatten"
	OpReshape Op = "Reshape"
	// OpAdd: elementwise sum of its inputs, each multiplied by the matching
	// entry of Scales (nil = all 1). Output: current.
	OpAdd Op = "Add"
	// OpConcat: along per-sample Axis. Inputs and output share their kind.
	OpConcat Op = "Concat"
	// OpAffine: per-channel y = W[c]·x + B[c] over axis 0 (an unfoldable
	// BatchNorm or an input normalisation kept as a layer). Output: current.
	OpAffine Op = "Affine"
	// OpIF: integrate-and-fire neurons. Input: current; output: spikes.
	// Threshold has 1 entry (per layer) or one per channel (axis 0);
	// Reset and VInit per DESIGN §2.
	OpIF Op = "IF"
)

// ResetMode is what happens to the membrane after a spike.
type ResetMode string

const (
	// ResetSubtract: V -= θ (default; unbiased estimator of ReLU).
	ResetSubtract ResetMode = "subtract"
	// ResetZero: V = 0.
	ResetZero ResetMode = "zero"
)

// ParseResetMode validates a user-supplied reset mode.
func ParseResetMode(s string) (ResetMode, error) {
	switch ResetMode(s) {
	case ResetSubtract, ResetZero:
		return ResetMode(s), nil
	}
	return "", fmt.Errorf("unknown reset mode %q (want subtract or zero)", s)
}

// Encoding is how an input image becomes the input of the first layer.
type Encoding string

const (
	// EncodingAnalog: the image is a constant current every step.
	EncodingAnalog Encoding = "analog"
	// EncodingRate: deterministic regular spike trains, rate |x|/max|x|, sign carried.
	EncodingRate Encoding = "rate"
	// EncodingPoisson: seeded Bernoulli spikes with p = |x|/max|x|, sign carried.
	EncodingPoisson Encoding = "poisson"
)

// ParseEncoding validates a user-supplied encoding.
func ParseEncoding(s string) (Encoding, error) {
	switch Encoding(s) {
	case EncodingAnalog, EncodingRate, EncodingPoisson:
		return Encoding(s), nil
	}
	return "", fmt.Errorf("unknown encoding %q (want analog, rate or poisson)", s)
}

// ExitRule is when early exit (RunOptions.EarlyExit = K) stops a sample whose
// prediction has not changed for K steps.
type ExitRule string

const (
	// ExitExact: also when no spikes in the remaining steps could change the
	// prediction (its readout margin exceeds a worst-case bound, DESIGN §4),
	// so a stopped sample predicts what the full run would; a readout that
	// admits no bound never stops early. The bound assumes every input of
	// the readout fires at every remaining step, so samples stop late.
	ExitExact ExitRule = "exact"
	// ExitStable: on the K unchanged steps alone. Samples stop far earlier;
	// a stopped prediction may differ from the full run's, so the accuracy
	// at T can change (run's checkpoints show by how much).
	ExitStable ExitRule = "stable"
)

// ParseExitRule validates a user-supplied exit rule.
func ParseExitRule(s string) (ExitRule, error) {
	switch ExitRule(s) {
	case ExitExact, ExitStable:
		return ExitRule(s), nil
	}
	return "", fmt.Errorf("unknown exit rule %q (want exact or stable)", s)
}

// Tensor is a dense float32 array in row-major order.
type Tensor struct {
	Shape []int
	Data  []float32
}

// Node is one operation of the network.
type Node struct {
	Name   string
	Op     Op
	Inputs []string
	Output string
	// Shape is the per-sample output shape ([C, H, W] or [N]).
	Shape []int

	W, B *Tensor

	Kernel    []int
	Strides   []int
	Pads      []int
	Dilations []int
	Group     int
	Axis      int
	Scales    []float32

	Threshold []float32
	Reset     ResetMode
	VInit     float32
}

// Normalization records how thresholds were chosen (DESIGN §3 metadata).
type Normalization struct {
	Method      string  `json:"method"`
	Percentile  float64 `json:"percentile,omitempty"`
	CalibSet    string  `json:"calibration_set,omitempty"`
	CalibSHA256 string  `json:"calibration_sha256,omitempty"`
	CalibCount  int     `json:"calibration_samples,omitempty"`
	ScaleInto   string  `json:"scale_into,omitempty"` // "thresholds" or "weights"
}

// Meta is the network-level metadata stored in the SNN file.
type Meta struct {
	SemanticsVersion int
	Encoding         Encoding
	TimestepsHint    int
	SourceSHA256     string
	SourceName       string
	Normalization    Normalization
	// StrippedHead lists the output-head ops convert removed (e.g. "Softmax").
	StrippedHead []string
	// Extra holds any other metadata_props key/value pairs, kept on round trip.
	Extra map[string]string
}

// Network is a converted spiking network.
type Network struct {
	Name       string
	Input      string
	InputShape []int // per-sample
	// Nodes in topological order.
	Nodes []*Node
	// Output names the value whose current the non-spiking output layer
	// integrates; the prediction at step t is the argmax of its integral.
	Output string
	Meta   Meta
}

// SpikingMaxPools names the max pools that act on spikes under enc, by DESIGN
// §2's rule, an approximation of the ANN's max; the others pool a current
// that is the same every step (analog input, before any IF), exactly.
func (net *Network) SpikingMaxPools(enc Encoding) []string {
	if enc == "" {
		enc = EncodingAnalog
	}
	kinds := valueKinds(net, enc)
	var names []string
	for _, n := range net.Nodes {
		if n.Op == OpSpikeMaxPool && len(n.Inputs) > 0 && kinds[n.Inputs[0]] != kindConst {
			names = append(names, n.Name)
		}
	}
	return names
}

// ForEncoding is the network as it runs under enc. A network converted for
// analog input may max-pool the first layer's current, which is the same
// every step there, exactly; under rate or poisson input that current
// changes every step and no max pool takes it. Where such a pool's output is
// read by one IF node alone, the two trade places: the IF neurons (same
// thresholds per channel, v_init and reset) integrate the pool's input and
// DESIGN §2's spiking max pool takes their spikes, as convert builds the
// network for that encoding (with the thresholds calibrated for analog).
// The IF node keeps its name and has the pool's input shape; a note says so
// for each move. net itself is returned when nothing changes; a pool of a
// current that no IF follows is left for Compile to refuse.
func (net *Network) ForEncoding(enc Encoding) (*Network, []string) {
	kinds := valueKinds(net, enc)
	readers := map[string][]int{}
	for i, n := range net.Nodes {
		if n == nil {
			return net, nil // inferShapes refuses it
		}
		for _, in := range n.Inputs {
			readers[in] = append(readers[in], i)
		}
	}
	var swaps [][2]int
	for i, n := range net.Nodes {
		if n.Op != OpSpikeMaxPool || len(n.Inputs) != 1 || kinds[n.Inputs[0]] != kindDense || n.Output == net.Output {
			continue
		}
		if r := readers[n.Output]; len(r) == 1 && net.Nodes[r[0]].Op == OpIF && len(net.Nodes[r[0]].Inputs) == 1 {
			swaps = append(swaps, [2]int{i, r[0]})
		}
	}
	if len(swaps) == 0 {
		return net, nil
	}
	c := snapshot(net)
	shapes, err := inferShapes(c)
	if err != nil {
		return net, nil // Compile reports it
	}
	var notes []string
	for _, s := range swaps {
		pool, f := *c.Nodes[s[0]], *c.Nodes[s[1]]
		fire := f
		fire.Inputs, fire.Output, fire.Shape = pool.Inputs, pool.Output, slices.Clone(shapes[pool.Inputs[0]])
		pool.Inputs, pool.Output, pool.Shape = []string{pool.Output}, f.Output, slices.Clone(shapes[f.Output])
		c.Nodes[s[0]], c.Nodes[s[1]] = &fire, &pool
		notes = append(notes, fmt.Sprintf("under %s input, IF %q fires before max pool %q, on its %v inputs: the current the pool takes changes every step", enc, f.Name, pool.Name, fire.Shape))
	}
	return c, notes
}
