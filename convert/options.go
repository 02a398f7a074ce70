package convert

import (
	"fmt"
	"strings"
	"time"

	"github.com/snnconvert/snnconvert/ann"
	"github.com/snnconvert/snnconvert/normalize"
	"github.com/snnconvert/snnconvert/snnrt"
)

// ScaleInto says where the activation scales go.
type ScaleInto string

const (
	// IntoThresholds keeps θ_l = λ_l in activation units (default).
	IntoThresholds ScaleInto = "thresholds"
	// IntoWeights rescales weights and biases so that every θ = 1.
	IntoWeights ScaleInto = "weights"
)

// ParseScaleInto validates a user-supplied --scale-into.
func ParseScaleInto(s string) (ScaleInto, error) {
	switch ScaleInto(s) {
	case IntoThresholds, IntoWeights:
		return ScaleInto(s), nil
	}
	return "", fmt.Errorf("unknown --scale-into %q (want thresholds or weights)", s)
}

// DefaultVInit is DESIGN §2's v_init.
const DefaultVInit = 0.5

// Options control a conversion. Zero values take the defaults noted.
type Options struct {
	Norm       normalize.Method // default normalize.DefaultMethod
	Percentile float64          // default 99.99
	Reset      snnrt.ResetMode  // default subtract
	// VInit is the initial membrane potential as a fraction of θ; nil = 0.5.
	VInit     *float32
	Encoding  snnrt.Encoding // default analog; recorded as the network's default
	ScaleInto ScaleInto      // default thresholds

	// Calib is the calibration set (required by Convert), its samples in the
	// source model's input layout.
	Calib normalize.Source
	// CalibName is its spec (e.g. mnist:train:1000), recorded in the file.
	CalibName string
	// CalibBatch is the executor batch size during calibration (0: default).
	CalibBatch int
	Workers    int

	// Input and Output pick the classifier path in a graph with several
	// inputs or outputs (value names).
	Input, Output string

	// DumpAfter names passes after which the graph is printed into the pass
	// log (PassLog.Dump); Disable names passes to skip.
	DumpAfter []string
	Disable   []string

	// Progress receives calibration progress (samples done, total).
	Progress func(done, total int)

	// SourceName and SourceSHA256 identify the source model in Meta.
	SourceName   string
	SourceSHA256 string
	// TimestepsHint is stored as snn.timesteps_hint (0: none).
	TimestepsHint int
	// Extra metadata copied into Meta.Extra (the CLI puts the model's input
	// preprocessing under "snn.preprocessing").
	Extra map[string]string
}

func (o Options) withDefaults() (Options, error) {
	if o.Norm == "" {
		o.Norm = normalize.DefaultMethod
	}
	if _, err := normalize.ParseMethod(string(o.Norm)); err != nil {
		return o, err
	}
	if o.Percentile == 0 {
		o.Percentile = normalize.DefaultPercentile
	}
	if o.Reset == "" {
		o.Reset = snnrt.ResetSubtract
	}
	if _, err := snnrt.ParseResetMode(string(o.Reset)); err != nil {
		return o, err
	}
	if o.VInit == nil {
		v := float32(DefaultVInit)
		o.VInit = &v
	}
	if o.Encoding == "" {
		o.Encoding = snnrt.EncodingAnalog
	}
	if _, err := snnrt.ParseEncoding(string(o.Encoding)); err != nil {
		return o, err
	}
	if o.ScaleInto == "" {
		o.ScaleInto = IntoThresholds
	}
	if _, err := ParseScaleInto(string(o.ScaleInto)); err != nil {
		return o, err
	}
	known := map[string]bool{}
	for _, p := range passes {
		known[p.Name] = true
	}
	for _, list := range [][]string{o.DumpAfter, o.Disable} {
		for _, name := range list {
			if !known[name] {
				return o, fmt.Errorf("unknown pass %q (passes: %s)", name, strings.Join(PassNames(), ", "))
			}
		}
	}
	return o, nil
}

// PassLog is what one pass did.
type PassLog struct {
	Pass    string   `json:"pass"`
	Doc     string   `json:"doc"`
	Changes []string `json:"changes,omitempty"`
	// Skipped: disabled by the user.
	Skipped bool `json:"skipped,omitempty"`
	// Dump is the graph after the pass, when asked for with DumpAfter.
	Dump string `json:"dump,omitempty"`
}

// LayerMap ties an SNN IF node to the ANN value it approximates: rate·Scale
// ≈ activation (Scale has one entry per layer or per channel).
type LayerMap struct {
	SNNNode  string    `json:"snn_node"`
	ANNValue string    `json:"ann_value"`
	Scale    []float32 `json:"scale"`
}

// LayerInfo summarises one SNN node for the conversion table.
type LayerInfo struct {
	Node    string `json:"node"`
	Op      string `json:"op"`
	Shape   []int  `json:"shape"`
	Neurons int    `json:"neurons"`
	// For IF nodes: threshold and scale ranges over channels.
	ThetaMin  float32 `json:"theta_min,omitempty"`
	ThetaMax  float32 `json:"theta_max,omitempty"`
	ScaleMin  float32 `json:"scale_min,omitempty"`
	ScaleMax  float32 `json:"scale_max,omitempty"`
	ClipValue float32 `json:"clip,omitempty"`
}

// Report tells what a conversion did.
type Report struct {
	Passes   []PassLog `json:"passes"`
	Warnings []string  `json:"warnings,omitempty"`
	// StrippedHead lists removed output-head ops, outermost first (e.g. Log, Softmax).
	StrippedHead []string `json:"stripped_head,omitempty"`
	// InputPermutation is set when a leading NHWC→NCHW Transpose was moved
	// out of the network: the SNN input is the source input permuted by it.
	InputPermutation []int `json:"input_permutation,omitempty"`
	// Graph is the canonical ANN (after the passes): Layers' ANNValue names
	// its values, so eval can run it with ann.Executor{KeepAll} to correlate.
	Graph  *ann.Graph  `json:"-"`
	Layers []LayerMap  `json:"layers"`
	Nodes  []LayerInfo `json:"nodes"`
	// Calibration provenance and timing.
	Normalization snnrt.Normalization `json:"normalization"`
	Neurons       int                 `json:"neurons"`
	CalibDuration time.Duration       `json:"calibration_ns"`
	Duration      time.Duration       `json:"duration_ns"`
}

// Refusal is one reason a graph cannot be converted.
type Refusal struct {
	Node   string `json:"node,omitempty"` // "" for graph-level reasons
	Op     string `json:"op,omitempty"`
	Reason string `json:"reason"`
	Hint   string `json:"hint,omitempty"`
}

func (r Refusal) String() string {
	s := r.Reason
	if r.Node != "" {
		s = fmt.Sprintf("node %q (%s): %s", r.Node, r.Op, r.Reason)
	}
	if r.Hint != "" {
		s += " (hint: " + r.Hint + ")"
	}
	return s
}

// RefusalError is returned by Convert when the graph cannot be converted;
// it lists every reason at once.
type RefusalError struct {
	Model    string
	Refusals []Refusal
}

func (e *RefusalError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s cannot be converted (%d reason", e.Model, len(e.Refusals))
	if len(e.Refusals) != 1 {
		b.WriteString("s")
	}
	b.WriteString("):")
	for _, r := range e.Refusals {
		b.WriteString("\n  - " + r.String())
	}
	return b.String()
}
