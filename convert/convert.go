// Package convert turns an imported ANN into an integrate-and-fire SNN.
//
// In: an *ann.Graph from package importer, a calibration Source and Options.
// Out: an *snnrt.Network (write it with snnrt.Write) and a Report: what each
// graph pass changed, warnings, the stripped output head, per-layer
// thresholds, and for every IF node the canonical ANN value it approximates
// with its scale (Report.Layers, used by eval to correlate rates with
// activations; Report.Graph is the canonical graph those names refer to).
//
// # Pipeline
//
// Canonicalize runs the graph passes, one ordered declarative list (passes)
// in the style of cmd/compile's SSA pass table; each returns a log of what it
// changed. Refusals and Preflight report what cannot convert, naming nodes.
// Convert then calibrates (package normalize) and lowers the canonical graph
// to snnrt nodes following DESIGN §2 (neuron semantics version 1) and §3.
//
// # Scaling (DESIGN §2)
//
// An IF neuron with threshold θ, subtract reset and a constant input current
// I fires at rate r = clamp(I/θ, 0, 1) (exactly: its count after T steps is
// clamp(floor(T·I/θ + 0.5), 0, T) with v_init = 0.5). Let λ_l be the
// activation scale of ReLU layer l (normalize: max, percentile or per-channel
// percentile of its calibration activations; a clipped ReLU's clip value).
// We want r_l = a_l/λ_l, so layer l's spikes stand for λ_l of activation
// each.
//
// The lowering keeps, for every ANN value, a per-element scale σ with
// ANN value ≈ σ ⊙ (mean SNN value over steps): σ = 1 for the analog input,
// σ = λ_l for IF spikes. A synaptic layer reading a value of scale σ_in gets
// W' = W·diag(σ_in) (each input spike becomes σ_in of activation) and keeps
// b' = b, so its mean current is exactly the ANN pre-activation
// z = W·a + b, and its σ is 1. The IF layer on it gets θ_l = λ_l (per layer,
// or per output channel): rate = clamp(z/λ_l, 0, 1) = ReLU(z)/λ_l whenever
// z ≤ λ_l. Substituting the previous layer: with a_{l-1} = λ_{l-1}·r_{l-1},
//
//	r_l = clamp((W_l·λ_{l-1}·r_{l-1} + b_l) / λ_l, 0, 1)
//
// which is the textbook θ_l = λ_l/λ_{l-1} with bias b_l/λ_{l-1} (Rueckauer
// 2017), written in activation units so that θ reads as an activation value
// and per-channel λ_{l-1} is possible. --scale-into weights instead divides
// row o of W' and b'_o by θ_o and sets θ = 1 (the two are the same network up
// to the units of V). A clipped ReLU has λ = its clip value, so the SNN
// saturates exactly where the ANN clips. Linear ops move σ along: layout ops
// keep it, an average pool becomes a SumPool with σ/k² (so its 1/k² ends up
// in the next layer's weights), max pooling acts on spikes (SpikeMaxPool) and
// keeps σ, a residual Add weighs each input by its (uniform) σ through
// snnrt.Node.Scales, a Concat concatenates σ. The output layer does not
// spike: it integrates the last linear layer's current, in ANN logit units.
//
// Normalize unifies the scales of all spiking inputs of a residual Add or a
// Concat (the largest wins) so merges add like units.
package convert

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/snnconvert/snnconvert/ann"
	"github.com/snnconvert/snnconvert/normalize"
	"github.com/snnconvert/snnconvert/snnrt"
)

// Convert canonicalises g, calibrates it on opt.Calib and lowers it to an SNN.
// A graph that cannot be converted yields a *RefusalError naming every node
// at fault.
func Convert(g *ann.Graph, opt Options) (*snnrt.Network, *Report, error) {
	start := time.Now()
	opt, err := opt.withDefaults()
	if err != nil {
		return nil, nil, err
	}
	c, logs, err := canonicalize(g, opt)
	rep := &Report{Passes: logs}
	if err != nil {
		return nil, rep, fmt.Errorf("%s: %w", g.Name, err)
	}
	rep.Graph = c.G
	rep.StrippedHead = c.Head
	rep.InputPermutation = c.InputPerm
	rep.Warnings = append(rep.Warnings, c.Warnings...)

	dry := lower(c.G, nil, opt)
	if len(dry.refuse) > 0 {
		return nil, rep, &RefusalError{Model: g.Name, Refusals: dry.refuse}
	}
	if opt.Calib == nil {
		return nil, rep, fmt.Errorf("%s: no calibration data", g.Name)
	}

	calib := opt.Calib
	if c.InputPerm != nil && len(calib.SampleShape()) == len(c.InputPerm) {
		// The calibration set comes in the source model's layout.
		calib = newPermutedSource(calib, c.InputPerm)
	}
	calStart := time.Now()
	res, err := normalize.Calibrate(c.G, dry.targets, calib, normalize.Options{
		Method: opt.Norm, Percentile: opt.Percentile, Batch: opt.CalibBatch, Workers: opt.Workers, Progress: opt.Progress,
	})
	if err != nil {
		return nil, rep, fmt.Errorf("%s: %w", g.Name, err)
	}
	rep.CalibDuration = time.Since(calStart)
	rep.Warnings = append(rep.Warnings, res.Warnings...)
	var names []string
	clip := map[string]float32{}
	for _, t := range dry.targets {
		names = append(names, t.Value)
		clip[t.Value] = t.Clip
	}
	normalize.LayerWide(res.Scales, normalize.ResidualInputs(c.G, names))
	rep.Warnings = append(rep.Warnings, normalize.Unify(res.Scales, normalize.MergeGroups(c.G, names), clip)...)

	l := lower(c.G, res.Scales, opt)
	if len(l.refuse) > 0 {
		return nil, rep, &RefusalError{Model: g.Name, Refusals: l.refuse}
	}
	rep.Warnings = append(rep.Warnings, l.warn...)
	net := l.net
	rep.Layers = l.layers
	rep.Normalization = snnrt.Normalization{
		Method: string(res.Method), Percentile: res.Percentile, CalibSet: opt.CalibName,
		CalibSHA256: res.SHA256, CalibCount: res.Samples, ScaleInto: string(opt.ScaleInto),
	}
	net.Meta = snnrt.Meta{
		SemanticsVersion: snnrt.SemanticsVersion,
		Encoding:         opt.Encoding,
		TimestepsHint:    opt.TimestepsHint,
		SourceSHA256:     opt.SourceSHA256,
		SourceName:       opt.SourceName,
		Normalization:    rep.Normalization,
		StrippedHead:     slices.Clone(c.Head),
		Extra:            map[string]string{},
	}
	for k, v := range opt.Extra {
		net.Meta.Extra[k] = v
	}
	if c.InputPerm != nil {
		b, _ := json.Marshal(c.InputPerm)
		net.Meta.Extra["snn.input_permutation"] = string(b)
	}
	rep.Nodes, rep.Neurons = summarize(net, l.layers)
	rep.Duration = time.Since(start)
	return net, rep, nil
}

// summarize describes every SNN node for the conversion table.
func summarize(net *snnrt.Network, layers []LayerMap) ([]LayerInfo, int) {
	scale := map[string][]float32{}
	for _, m := range layers {
		scale[m.SNNNode] = m.Scale
	}
	var out []LayerInfo
	neurons := 0
	for _, n := range net.Nodes {
		li := LayerInfo{Node: n.Name, Op: string(n.Op), Shape: slices.Clone(n.Shape)}
		if n.Op == snnrt.OpIF {
			li.Neurons = ann.Numel(n.Shape)
			neurons += li.Neurons
			li.ThetaMin, li.ThetaMax = slices.Min(n.Threshold), slices.Max(n.Threshold)
			if s := scale[n.Name]; len(s) > 0 {
				li.ScaleMin, li.ScaleMax = slices.Min(s), slices.Max(s)
			}
		}
		out = append(out, li)
	}
	return out, neurons
}

// Refusals lists every reason g cannot be converted (none: it converts).
// It runs the passes and a dry lowering, so it agrees with Convert.
func Refusals(g *ann.Graph) []Refusal {
	return refusalsWith(g, Options{})
}

func refusalsWith(g *ann.Graph, opt Options) []Refusal {
	c, _, err := canonicalize(g, opt)
	if err != nil {
		return []Refusal{{Reason: err.Error(), Hint: hintFor(g)}}
	}
	return lower(c.G, nil, c.Opt).refuse
}

func hintFor(g *ann.Graph) string {
	if len(g.Inputs) > 1 || len(g.Outputs) > 1 {
		return "pick the classifier path with --input NAME and --output NAME"
	}
	return ""
}

// Status classifies a node of the imported graph for the pre-flight report.
type Status string

const (
	Supported Status = "supported" // lowered as it is
	Rewritten Status = "rewritten" // changed or removed by a pass
	Refused   Status = "refused"   // blocks the conversion
)

// PreflightEntry is one node of the imported graph (or, with Node == "", a
// graph-level refusal).
type PreflightEntry struct {
	Node   string `json:"node"`
	Op     string `json:"op"`
	Status Status `json:"status"`
	Detail string `json:"detail,omitempty"`
	Hint   string `json:"hint,omitempty"`
}

// Preflight classifies every node of g: supported as is, rewritten by a pass
// (Detail says how), or refused (Detail says why, Hint what to do).
func Preflight(g *ann.Graph) []PreflightEntry {
	c, logs, err := canonicalize(g, Options{})
	var refusals []Refusal
	canon := map[string]ann.Op{}
	if err != nil {
		refusals = []Refusal{{Reason: err.Error(), Hint: hintFor(g)}}
	} else {
		refusals = lower(c.G, nil, c.Opt).refuse
		for _, n := range c.G.Nodes {
			canon[n.Name] = n.Op
		}
	}
	refused := map[string]Refusal{}
	var out []PreflightEntry
	for _, r := range refusals {
		if r.Node == "" {
			out = append(out, PreflightEntry{Status: Refused, Detail: r.Reason, Hint: r.Hint})
		} else {
			refused[r.Node] = r
		}
	}
	for _, n := range g.Nodes {
		e := PreflightEntry{Node: n.Name, Op: string(n.Op)}
		switch r, bad := refused[n.Name]; {
		case bad:
			e.Status, e.Detail, e.Hint = Refused, r.Reason, r.Hint
		case err == nil && canon[n.Name] == n.Op && !mentioned(logs, n.Name):
			e.Status = Supported
		default:
			e.Status = Rewritten
			e.Detail = describe(logs, n.Name)
		}
		out = append(out, e)
	}
	return out
}

func mentioned(logs []PassLog, node string) bool { return describe(logs, node) != "" }

// describe collects the pass log lines that name node.
func describe(logs []PassLog, node string) string {
	q := fmt.Sprintf("%q", node)
	var parts []string
	for _, l := range logs {
		for _, ch := range l.Changes {
			if strings.Contains(ch, q) {
				parts = append(parts, l.Pass+": "+ch)
			}
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return strings.Join(parts, "; ")
}

// permutedSource feeds a Source whose samples are in the source model's
// input layout to a canonical graph whose input was permuted by perm.
type permutedSource struct {
	normalize.Source
	perm  []int
	shape []int
	buf   []float32
}

func newPermutedSource(src normalize.Source, perm []int) *permutedSource {
	in := src.SampleShape()
	out := make([]int, len(perm))
	for k, a := range perm {
		out[k] = in[a]
	}
	return &permutedSource{Source: src, perm: perm, shape: out}
}

func (p *permutedSource) SampleShape() []int { return p.shape }

func (p *permutedSource) Batch(dst []float32, from, n int) error {
	in := p.Source.SampleShape()
	per := ann.Numel(in)
	if cap(p.buf) < n*per {
		p.buf = make([]float32, n*per)
	}
	buf := p.buf[:n*per]
	if err := p.Source.Batch(buf, from, n); err != nil {
		return err
	}
	is, os := strides(in), strides(p.shape)
	idx := make([]int, len(in))
	for i := 0; i < per; i++ {
		r := i
		for a := range in {
			idx[a] = r / is[a]
			r %= is[a]
		}
		j := 0
		for k, a := range p.perm {
			j += idx[a] * os[k]
		}
		for s := 0; s < n; s++ {
			dst[s*per+j] = buf[s*per+i]
		}
	}
	return nil
}
