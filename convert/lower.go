package convert

import (
	"fmt"
	"slices"

	"github.com/snnconvert/snnconvert/ann"
	"github.com/snnconvert/snnconvert/normalize"
	"github.com/snnconvert/snnconvert/snnrt"
)

// kind is what an SNN value carries each step.
type kind int

const (
	current kind = iota // real-valued (the analog input, synaptic currents)
	spikes              // 0/1 events of IF neurons (or pooled spikes)
	counts              // sums of spikes (a SumPool of spikes)
)

func (k kind) String() string { return [...]string{"current", "spikes", "counts"}[k] }

// sval is an ANN value as the SNN carries it: ANN value ≈ sigma ⊙ (the mean
// over steps of the SNN value), element by element.
type sval struct {
	name  string
	kind  kind
	sigma []float32 // per element of the per-sample shape
	shape []int
	node  *snnrt.Node // the SNN node that outputs it (nil for the input)
}

// lowering holds the state of one lowering of a canonical graph.
type lowering struct {
	g      *ann.Graph
	opt    Options
	scales map[string][]float32 // per target value; nil entries mean 1 (dry run)
	vals   map[string]*sval
	// steady: SNN values that are the same every step (under analog
	// encoding, the input and what is computed from it before any IF).
	steady  map[string]bool
	net     *snnrt.Network
	layers  []LayerMap
	targets []normalize.Target
	refuse  []Refusal
	warn    []string
}

// lower turns a canonical graph into a network. With scales == nil it is a
// dry run: every scale is 1, and it collects every refusal and the values
// to calibrate instead of stopping at the first problem.
func lower(g *ann.Graph, scales map[string][]float32, opt Options) *lowering {
	l := &lowering{g: g, opt: opt, scales: scales, vals: map[string]*sval{}, steady: map[string]bool{}}
	l.net = &snnrt.Network{Name: g.Name}
	if len(g.Inputs) != 1 {
		var names []string
		for _, v := range g.Inputs {
			names = append(names, v.Name)
		}
		l.refuse = append(l.refuse, Refusal{Reason: fmt.Sprintf("the graph has %d inputs %v", len(g.Inputs), names), Hint: "pick the image input with --input NAME (and the class scores with --output NAME)"})
	}
	if len(g.Outputs) != 1 {
		l.refuse = append(l.refuse, Refusal{Reason: fmt.Sprintf("the graph has %d outputs %v", len(g.Outputs), g.Outputs), Hint: "pick the class-score output with --output NAME"})
	}
	if len(l.refuse) > 0 {
		return l
	}
	in := g.Inputs[0]
	l.net.Input, l.net.InputShape = in.Name, slices.Clone(in.Shape)
	l.vals[in.Name] = &sval{name: in.Name, kind: current, sigma: ones(ann.Numel(in.Shape)), shape: in.Shape}
	l.steady[in.Name] = opt.Encoding == snnrt.EncodingAnalog
	for _, n := range g.Nodes {
		if err := l.node(n); err != nil {
			l.refuse = append(l.refuse, *err)
			if scales != nil {
				return l
			}
			// Keep going so every problem is reported: treat the output as a
			// current of unit scale.
			for _, o := range n.Outputs {
				sh := g.Shapes[o]
				l.vals[o] = &sval{name: o, kind: current, sigma: ones(ann.Numel(sh)), shape: sh}
			}
		}
	}
	out, ok := l.vals[g.Outputs[0]]
	if !ok {
		l.refuse = append(l.refuse, Refusal{Reason: fmt.Sprintf("output %q is not computed by the network", g.Outputs[0])})
		return l
	}
	if out.name == in.Name {
		l.refuse = append(l.refuse, Refusal{Reason: "the output is the input itself: nothing to convert"})
	}
	l.net.Output = out.name
	if out.kind == spikes {
		l.warn = append(l.warn, fmt.Sprintf("output %q is spiking (the model ends in an activation): the readout integrates its spikes, a spike-count readout", g.Outputs[0]))
	}
	return l
}

const spikeMaxPoolWarning = "max pooling on spikes passes, per window, the spikes of the input neuron with the largest count so far (DESIGN §2): an approximation of the ANN's max pool"

func ones(n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = 1
	}
	return s
}

func refusal(n *ann.Node, hint, format string, args ...any) *Refusal {
	return &Refusal{Node: n.Name, Op: string(n.Op), Reason: fmt.Sprintf(format, args...), Hint: hint}
}

// perChannel returns sigma as one entry per channel (axis 0) when it is
// constant within each channel.
func perChannel(v *sval) ([]float32, bool) {
	if len(v.shape) == 0 {
		return v.sigma, true
	}
	c := v.shape[0]
	inner := len(v.sigma) / c
	out := make([]float32, c)
	for i := 0; i < c; i++ {
		out[i] = v.sigma[i*inner]
		for _, s := range v.sigma[i*inner : (i+1)*inner] {
			if s != out[i] {
				return nil, false
			}
		}
	}
	return out, true
}

// uniform returns sigma's single value when all entries are equal.
func uniform(sigma []float32) (float32, bool) {
	for _, s := range sigma {
		if s != sigma[0] {
			return 0, false
		}
	}
	if len(sigma) == 0 {
		return 1, true
	}
	return sigma[0], true
}

func (l *lowering) param(name string) *snnrt.Tensor {
	if name == "" {
		return nil
	}
	t := l.g.Params[name]
	return &snnrt.Tensor{Shape: slices.Clone(t.Shape), Data: slices.Clone(t.Data)}
}

func (l *lowering) emit(n *ann.Node, sn *snnrt.Node, k kind, sigma []float32) {
	out := n.Outputs[0]
	sn.Name, sn.Output = n.Name, out
	sn.Shape = slices.Clone(l.g.Shapes[out])
	l.net.Nodes = append(l.net.Nodes, sn)
	l.vals[out] = &sval{name: out, kind: k, sigma: sigma, shape: sn.Shape, node: sn}
	st := k == current
	for _, in := range sn.Inputs {
		st = st && l.steady[in]
	}
	l.steady[out] = st
}

// alias makes the ANN output of n the same SNN value as its input.
func (l *lowering) alias(n *ann.Node, v *sval) {
	l.vals[n.Outputs[0]] = v
}

func (l *lowering) node(n *ann.Node) *Refusal {
	var in *sval
	if len(n.Inputs) > 0 {
		var ok bool
		if in, ok = l.vals[n.Inputs[0]]; !ok && !l.g.IsParam(n.Inputs[0]) {
			return refusal(n, "", "input %q is not available", n.Inputs[0])
		}
	}
	outShape := l.g.Shapes[n.Outputs[0]]
	switch n.Op {
	case ann.OpConv:
		if in == nil {
			return refusal(n, "", "the convolution's data input is a constant")
		}
		sc, ok := perChannel(in)
		if !ok {
			return refusal(n, "", "its input's scale varies within a channel")
		}
		w := l.param(n.Inputs[1])
		out, cpg := w.Shape[0], w.Shape[1]
		group := max(n.Attrs.Group, 1)
		k := len(w.Data) / (out * cpg)
		opg := out / group
		for o := 0; o < out; o++ {
			for ci := 0; ci < cpg; ci++ {
				s := sc[(o/opg)*cpg+ci]
				for j := range k {
					w.Data[(o*cpg+ci)*k+j] *= s
				}
			}
		}
		var b *snnrt.Tensor
		if len(n.Inputs) > 2 {
			b = l.param(n.Inputs[2])
		}
		l.emit(n, &snnrt.Node{Op: snnrt.OpConv, Inputs: []string{in.name}, W: w, B: b,
			Kernel: slices.Clone(w.Shape[2:]), Strides: pairOr(n.Attrs.Strides, 1), Pads: padsOr(n.Attrs.Pads),
			Dilations: pairOr(n.Attrs.Dilations, 1), Group: group}, current, ones(ann.Numel(outShape)))
	case ann.OpDense:
		if in == nil {
			return refusal(n, "", "the dense layer's data input is a constant")
		}
		w := l.param(n.Inputs[1])
		out, nin := w.Shape[0], w.Shape[1]
		if nin != len(in.sigma) {
			return refusal(n, "", "weights take %d inputs, the input has %d values", nin, len(in.sigma))
		}
		for o := 0; o < out; o++ {
			row := w.Data[o*nin : (o+1)*nin]
			for i := range row {
				row[i] *= in.sigma[i]
			}
		}
		var b *snnrt.Tensor
		if len(n.Inputs) > 2 {
			b = l.param(n.Inputs[2])
		}
		l.emit(n, &snnrt.Node{Op: snnrt.OpDense, Inputs: []string{in.name}, W: w, B: b}, current, ones(out))
	case ann.OpAffine:
		sc, ok := perChannel(in)
		if !ok {
			return refusal(n, "", "its input's scale varies within a channel")
		}
		s, t := l.param(n.Inputs[1]), l.param(n.Inputs[2])
		c := len(sc)
		w := &snnrt.Tensor{Shape: []int{c}, Data: make([]float32, c)}
		b := &snnrt.Tensor{Shape: []int{c}, Data: make([]float32, c)}
		for i := range c {
			w.Data[i] = pick(s.Data, i) * sc[i]
			b.Data[i] = pick(t.Data, i)
		}
		l.emit(n, &snnrt.Node{Op: snnrt.OpAffine, Inputs: []string{in.name}, W: w, B: b}, current, ones(ann.Numel(outShape)))
	case ann.OpRelu, ann.OpClippedRelu:
		return l.ifNode(n, in)
	case ann.OpMaxPool:
		// A constant current (the analog input's, before any IF) is pooled
		// exactly; spikes by DESIGN §2's rule.
		onSpikes := in.kind == spikes
		if !onSpikes && (in.kind != current || !l.steady[in.name]) {
			return refusal(n, "put the ReLU before the pooling (the reorder-pool-relu pass does this when the ReLU follows directly)",
				"max pooling of a %s value that changes from step to step: only spikes, or the analog input's constant current, can be max-pooled (DESIGN §2)", in.kind)
		}
		if r := poolCheck(n, false); r != nil {
			return r
		}
		sc, _ := perChannel(in)
		l.emit(n, &snnrt.Node{Op: snnrt.OpSpikeMaxPool, Inputs: []string{in.name}, Kernel: slices.Clone(n.Attrs.Kernel),
			Strides: pairOr(n.Attrs.Strides, 1), Pads: padsOr(n.Attrs.Pads)}, in.kind, expand(sc, outShape))
		if onSpikes && !slices.Contains(l.warn, spikeMaxPoolWarning) {
			l.warn = append(l.warn, spikeMaxPoolWarning)
		}
	case ann.OpAveragePool:
		if r := poolCheck(n, true); r != nil {
			return r
		}
		sc, ok := perChannel(in)
		if !ok {
			return refusal(n, "", "its input's scale varies within a channel")
		}
		k := float32(n.Attrs.Kernel[0] * n.Attrs.Kernel[1])
		div := make([]float32, len(sc))
		for i, s := range sc {
			div[i] = s / k
		}
		k2 := in.kind
		if k2 == spikes {
			k2 = counts
		}
		l.emit(n, &snnrt.Node{Op: snnrt.OpSumPool, Inputs: []string{in.name}, Kernel: slices.Clone(n.Attrs.Kernel),
			Strides: pairOr(n.Attrs.Strides, 1), Pads: padsOr(n.Attrs.Pads)}, k2, expand(div, outShape))
	case ann.OpFlatten, ann.OpReshape:
		op := snnrt.OpReshape
		if n.Op == ann.OpFlatten {
			op = snnrt.OpFlatten
		}
		l.emit(n, &snnrt.Node{Op: op, Inputs: []string{in.name}}, in.kind, in.sigma)
	case ann.OpAdd:
		return l.add(n)
	case ann.OpConcat:
		return l.concat(n)
	case ann.OpSigmoid, ann.OpTanh, ann.OpSelu:
		return refusal(n, "retrain with ReLU (or ReLU6) activations; rate-coded IF neurons only approximate ReLU", "non-ReLU hidden activation")
	case ann.OpLeakyRelu:
		return refusal(n, "retrain with ReLU, or use LeakyRelu with slope 0", "LeakyRelu with negative slope %g: IF neurons cannot fire negative rates", n.Attrs.Alpha)
	case ann.OpClip:
		return refusal(n, "only Clip(0, m) or a clamp after a ReLU becomes a clipped ReLU", "Clip[%g, %g] of a signed value is not a ReLU", n.Attrs.Min, n.Attrs.Max)
	case ann.OpSoftmax, ann.OpLogSoftmax, ann.OpArgMax, ann.OpLog:
		return refusal(n, "only output heads can be stripped", "%s inside the network", n.Op)
	case ann.OpBatchNorm:
		return refusal(n, "", "BatchNormalization could not be rewritten (the fold-batchnorm pass is disabled?)")
	case ann.OpTranspose:
		return refusal(n, "only a Transpose right before Flatten→Dense or on the graph input is supported", "Transpose %v inside the network", n.Attrs.Perm)
	case ann.OpPad:
		return refusal(n, "only zero padding of H and W directly before a Conv or pooling layer folds", "Pad %v with value %g", n.Attrs.Pads, n.Attrs.Value)
	case ann.OpSub, ann.OpMul, ann.OpDiv:
		return refusal(n, "only elementwise ops with a per-channel constant are linear layers", "%s of two activations", n.Op)
	default:
		return refusal(n, "", "op %s cannot be lowered to an SNN", n.Op)
	}
	return nil
}

func pairOr(v []int, def int) []int {
	if len(v) == 2 {
		return slices.Clone(v)
	}
	return []int{def, def}
}

func padsOr(v []int) []int {
	if len(v) == 4 {
		return slices.Clone(v)
	}
	return []int{0, 0, 0, 0}
}

func poolCheck(n *ann.Node, avg bool) *Refusal {
	if len(n.Attrs.Kernel) != 2 {
		return refusal(n, "", "pooling kernel %v: want 2-D", n.Attrs.Kernel)
	}
	for _, d := range n.Attrs.Dilations {
		if d > 1 {
			return refusal(n, "", "dilated pooling is not supported")
		}
	}
	if n.Attrs.CeilMode {
		return refusal(n, "export with ceil_mode=0, or pad the input", "ceil_mode pooling whose border windows divide by fewer elements")
	}
	if avg && !n.Attrs.CountIncludePad && !allZero(n.Attrs.Pads) {
		return refusal(n, "export with count_include_pad=1", "padded average pooling with count_include_pad=0 divides border windows by fewer elements, which a SumPool with one folded 1/k² cannot do")
	}
	return nil
}

// ifNode lowers a ReLU (or clipped ReLU) of a current into IF neurons. With
// the input current in units σ (ANN pre-activation ≈ σ·I) and the layer's
// activation scale λ, θ = λ/σ makes rate·λ ≈ ReLU(σ·I): see the package doc.
func (l *lowering) ifNode(n *ann.Node, in *sval) *Refusal {
	out := n.Outputs[0]
	clip := float32(0)
	if n.Op == ann.OpClippedRelu {
		clip = n.Attrs.Max
		if !(clip > 0) {
			return refusal(n, "", "clip value %g: want > 0", clip)
		}
	}
	if in.kind != current {
		// Spikes and counts are ≥ 0: a ReLU of them is the identity.
		if clip > 0 {
			if mx := slices.Max(in.sigma); mx > clip {
				l.warn = append(l.warn, fmt.Sprintf("ClippedRelu %q acts on spikes that stand for up to %g; its clip %g is not enforced", n.Name, mx, clip))
			}
		}
		l.alias(n, in)
		return nil
	}
	sc, ok := perChannel(in)
	if !ok {
		return refusal(n, "", "its input's scale varies within a channel")
	}
	if l.scales == nil {
		l.targets = append(l.targets, normalize.Target{Value: out, Clip: clip})
	}
	lam := []float32{1}
	if l.scales != nil {
		lam = l.scales[out]
		if len(lam) == 0 {
			return refusal(n, "", "no activation scale for %q", out)
		}
	}
	shape := l.g.Shapes[out]
	ch := 1
	if len(shape) > 0 {
		ch = shape[0]
	}
	if len(lam) != 1 && len(lam) != ch {
		return refusal(n, "", "%d scales for %d channels", len(lam), ch)
	}
	theta := make([]float32, max(len(lam), boolInt(!uniformF(sc), ch)))
	for c := range theta {
		theta[c] = pick(lam, c) / pick(sc, c)
	}
	if t, ok := uniform(theta); ok {
		theta = []float32{t}
	}
	if l.opt.ScaleInto == IntoWeights {
		theta = l.absorb(n, in, theta)
	}
	l.emit(n, &snnrt.Node{Op: snnrt.OpIF, Inputs: []string{in.name}, Threshold: theta, Reset: l.opt.Reset, VInit: *l.opt.VInit},
		spikes, expand(lam, shape))
	l.layers = append(l.layers, LayerMap{SNNNode: n.Name, ANNValue: out, Scale: slices.Clone(lam)})
	return nil
}

func boolInt(b bool, v int) int {
	if b {
		return v
	}
	return 1
}

func uniformF(s []float32) bool { _, ok := uniform(s); return ok }

// absorb moves θ into the weights and bias of the synaptic node that feeds
// the IF layer alone, so θ becomes 1 (--scale-into weights). It returns the
// threshold left to the IF node.
func (l *lowering) absorb(n *ann.Node, in *sval, theta []float32) []float32 {
	p := in.node
	if p == nil || len(l.g.Consumers(n.Inputs[0])) != 1 {
		l.warn = append(l.warn, fmt.Sprintf("IF %q keeps θ %v: its input current is not a layer of its own", n.Name, theta))
		return theta
	}
	switch p.Op {
	case snnrt.OpConv, snnrt.OpDense, snnrt.OpAffine:
		out := p.W.Shape[0]
		per := len(p.W.Data) / out
		for o := 0; o < out; o++ {
			inv := 1 / pick(theta, o)
			for i := o * per; i < (o+1)*per; i++ {
				p.W.Data[i] *= inv
			}
			if p.B != nil {
				p.B.Data[o] *= inv
			}
		}
	case snnrt.OpAdd:
		t, ok := uniform(theta)
		if !ok {
			l.warn = append(l.warn, fmt.Sprintf("IF %q keeps per-channel θ: the Add before it has one scale per input", n.Name))
			return theta
		}
		if p.Scales == nil {
			p.Scales = ones(len(p.Inputs))
		}
		for i := range p.Scales {
			p.Scales[i] /= t
		}
	default:
		l.warn = append(l.warn, fmt.Sprintf("IF %q keeps θ %v: %s %q cannot absorb it", n.Name, theta, p.Op, p.Name))
		return theta
	}
	return []float32{1}
}

func (l *lowering) add(n *ann.Node) *Refusal {
	var ins []*sval
	for _, name := range n.Inputs {
		v, ok := l.vals[name]
		if !ok {
			return refusal(n, "fold-bias folds per-channel constants; this one has another shape", "Add of a constant that could not be folded")
		}
		ins = append(ins, v)
	}
	outShape := l.g.Shapes[n.Outputs[0]]
	for _, v := range ins {
		if !slices.Equal(v.shape, outShape) {
			return refusal(n, "", "broadcasting Add of %v to %v", v.shape, outShape)
		}
	}
	sn := &snnrt.Node{Op: snnrt.OpAdd}
	for _, v := range ins {
		sn.Inputs = append(sn.Inputs, v.name)
	}
	same := true
	for _, v := range ins[1:] {
		same = same && slices.Equal(v.sigma, ins[0].sigma)
	}
	if same {
		l.emit(n, sn, current, slices.Clone(ins[0].sigma))
		return nil
	}
	for _, v := range ins {
		s, ok := uniform(v.sigma)
		if !ok {
			return refusal(n, "use --norm percentile or max: merges need one scale per input", "the inputs of this residual Add carry different per-channel scales")
		}
		sn.Scales = append(sn.Scales, s)
	}
	l.emit(n, sn, current, ones(ann.Numel(outShape)))
	return nil
}

func (l *lowering) concat(n *ann.Node) *Refusal {
	var ins []*sval
	for _, name := range n.Inputs {
		v, ok := l.vals[name]
		if !ok {
			return refusal(n, "", "Concat of a constant")
		}
		if len(ins) > 0 && v.kind != ins[0].kind {
			return refusal(n, "", "Concat of %s and %s values", ins[0].kind, v.kind)
		}
		ins = append(ins, v)
	}
	axis := n.Attrs.Axis
	outShape := l.g.Shapes[n.Outputs[0]]
	if axis < 0 {
		axis += len(outShape)
	}
	// sigma concatenated along axis: outer blocks of each input in turn.
	outer := ann.Numel(outShape[:axis])
	var sigma []float32
	for o := 0; o < outer; o++ {
		for _, v := range ins {
			blk := ann.Numel(v.shape[axis:])
			sigma = append(sigma, v.sigma[o*blk:(o+1)*blk]...)
		}
	}
	sn := &snnrt.Node{Op: snnrt.OpConcat, Axis: axis}
	for _, v := range ins {
		sn.Inputs = append(sn.Inputs, v.name)
	}
	l.emit(n, sn, ins[0].kind, sigma)
	return nil
}
