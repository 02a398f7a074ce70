package convert

import (
	"fmt"
	"slices"

	"github.com/snnconvert/snnconvert/ann"
)

// Pass is one graph rewrite. Fn changes c.G in place and returns one line per
// change (naming the nodes it touched); an empty log means nothing applied.
type Pass struct {
	Name string
	Fn   func(c *PassContext) ([]string, error)
	Doc  string
}

// PassContext is what a pass sees: the graph and the conversion state the
// passes share.
type PassContext struct {
	G   *ann.Graph
	Opt Options
	// Head collects stripped output ops, outermost first.
	Head []string
	// InputPerm is set by input-transpose when the input layout changes.
	InputPerm []int
	Warnings  []string
}

// passes is the canonicalisation pipeline, in order. Every pass keeps the
// ANN's function (outputs equal to ≤ 1e-5 relative) except strip-head, which
// removes monotone output ops that do not change the predicted class.
var passes = []Pass{
	{"select-io", passSelectIO, "keep only the path from --input to --output; refuse ambiguous multi-input/output graphs"},
	{"remove-identity", passRemoveIdentity, "drop Identity, Dropout (inference) and Cast-to-float nodes"},
	{"strip-head", passStripHead, "strip Softmax/LogSoftmax/Softmax+Log/ArgMax/Sigmoid and output clamps; record them"},
	{"clipped-relu", passClippedRelu, "ReLU→Clip/Min/Max, Clip(0,m), ReLU6 → ClippedRelu(m); LeakyRelu(0) → Relu; drop redundant ReLUs"},
	{"input-transpose", passInputTranspose, "a Transpose on the graph input becomes a Reshape (C=1) or the input layout itself"},
	{"fold-input-norm", passFoldInputNorm, "fold Sub/Div/Mul/Add-by-constant at the input into the first layer, or keep one input Affine"},
	{"fold-bias", passFoldBias, "fold Add/Sub/Mul/Div by a per-channel constant into the preceding Conv/Dense (else a per-channel Affine)"},
	{"fold-batchnorm", passFoldBatchNorm, "fold BatchNormalization into the preceding Conv/Dense or the following linear layer; else keep an Affine"},
	{"nhwc-flatten", passNHWCFlatten, "Transpose→Flatten/Reshape→Dense: permute the Dense weights instead of the activations"},
	{"reorder-pool-relu", passReorderPoolRelu, "MaxPool and ReLU commute: max pooling goes before the ReLU on the analog input's constant current (exact), after it everywhere else (on spikes)"},
	{"fold-pad", passFoldPad, "fold a zero Pad into the pads of the next Conv/pool"},
	{"avgpool-sum", passAvgPoolSum, "GlobalAveragePool → AveragePool; ceil-mode → explicit pads; each average pool lowers to a SumPool whose 1/k² goes into the next layer"},
	{"collapse-layout", passCollapseLayout, "merge Flatten/Reshape chains, drop no-op reshapes and identity transposes"},
	{"dead-code", passDeadCode, "remove nodes and constants that no output depends on"},
}

// Passes lists the canonicalisation passes in the order they run.
func Passes() []Pass { return slices.Clone(passes) }

// PassNames lists the pass names in order.
func PassNames() []string {
	out := make([]string, len(passes))
	for i, p := range passes {
		out[i] = p.Name
	}
	return out
}

// Canonicalize runs the passes on a copy of g and returns the canonical graph
// and what each pass did. Only opt's Input, Output, Encoding, DumpAfter and
// Disable matter here.
func Canonicalize(g *ann.Graph, opt Options) (*ann.Graph, []PassLog, error) {
	c, logs, err := canonicalize(g, opt)
	if err != nil {
		return nil, logs, err
	}
	return c.G, logs, nil
}

func canonicalize(g *ann.Graph, opt Options) (*PassContext, []PassLog, error) {
	opt, err := opt.withDefaults()
	if err != nil {
		return nil, nil, err
	}
	c := &PassContext{G: g.Clone(), Opt: opt}
	if err := reinfer(c.G); err != nil {
		return nil, nil, fmt.Errorf("graph %q: %w", g.Name, err)
	}
	var logs []PassLog
	for _, p := range passes {
		l := PassLog{Pass: p.Name, Doc: p.Doc}
		if slices.Contains(opt.Disable, p.Name) {
			l.Skipped = true
		} else {
			changes, err := p.Fn(c)
			l.Changes = changes
			if err != nil {
				logs = append(logs, l)
				return c, logs, fmt.Errorf("pass %s: %w", p.Name, err)
			}
			if err := reinfer(c.G); err != nil {
				logs = append(logs, l)
				return c, logs, fmt.Errorf("after pass %s: %w", p.Name, err)
			}
		}
		if slices.Contains(opt.DumpAfter, p.Name) {
			l.Dump = FormatGraph(c.G)
		}
		logs = append(logs, l)
	}
	return c, logs, nil
}
