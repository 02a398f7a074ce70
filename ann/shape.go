package ann

import (
	"errors"
	"fmt"
	"math"
)

// Spatial hyper-parameters of a Conv or pooling node with the ONNX defaults
// filled in (strides 1, pads 0, dilations 1, group 1).
type window struct {
	kh, kw     int
	sh, sw     int
	pt, pl     int // pads at the start (top, left)
	pb, pr     int // pads at the end (bottom, right)
	dh, dw     int
	group      int
	ceil       bool
	includePad bool
}

func windowOf(n *Node, kh, kw int) (window, error) {
	a := n.Attrs
	w := window{kh: kh, kw: kw, sh: 1, sw: 1, dh: 1, dw: 1, group: 1, ceil: a.CeilMode, includePad: a.CountIncludePad}
	if a.Strides != nil {
		if len(a.Strides) != 2 {
			return w, fmt.Errorf("strides %v: want 2 values", a.Strides)
		}
		w.sh, w.sw = a.Strides[0], a.Strides[1]
	}
	if a.Pads != nil {
		if len(a.Pads) != 4 {
			return w, fmt.Errorf("pads %v: want 4 values (top, left, bottom, right)", a.Pads)
		}
		w.pt, w.pl, w.pb, w.pr = a.Pads[0], a.Pads[1], a.Pads[2], a.Pads[3]
	}
	if a.Dilations != nil {
		if len(a.Dilations) != 2 {
			return w, fmt.Errorf("dilations %v: want 2 values", a.Dilations)
		}
		w.dh, w.dw = a.Dilations[0], a.Dilations[1]
	}
	if a.Group != 0 {
		w.group = a.Group
	}
	switch {
	case w.kh < 1 || w.kw < 1:
		return w, fmt.Errorf("kernel %dx%d must be positive", w.kh, w.kw)
	case w.sh < 1 || w.sw < 1:
		return w, fmt.Errorf("strides %dx%d must be positive", w.sh, w.sw)
	case w.dh < 1 || w.dw < 1:
		return w, fmt.Errorf("dilations %dx%d must be positive", w.dh, w.dw)
	case w.pt < 0 || w.pl < 0 || w.pb < 0 || w.pr < 0:
		return w, fmt.Errorf("pads %v must not be negative", a.Pads)
	case w.group < 1:
		return w, fmt.Errorf("group %d must be positive", w.group)
	}
	return w, nil
}

// outSize is the ONNX output length of one spatial axis. With ceil_mode the
// last window must still start inside the input or its begin padding
// (PyTorch's rule, which onnxruntime follows); otherwise it is dropped.
func outSize(in, k, s, padBegin, padEnd, d int, ceil bool) int {
	span := in + padBegin + padEnd - d*(k-1) - 1
	if span < 0 {
		return 0
	}
	if !ceil {
		return span/s + 1
	}
	o := (span+s-1)/s + 1
	if (o-1)*s >= in+padBegin {
		o--
	}
	return o
}

func (w window) out(h, wd int) (int, int) {
	return outSize(h, w.kh, w.sh, w.pt, w.pb, w.dh, w.ceil), outSize(wd, w.kw, w.sw, w.pl, w.pr, w.dw, w.ceil)
}

// operandShape is the per-sample shape of input i: the inferred activation
// shape, or the Param's shape for a constant operand.
func operandShape(g *Graph, n *Node, i int, in [][]int) ([]int, error) {
	if i >= len(n.Inputs) || n.Inputs[i] == "" {
		return nil, fmt.Errorf("input %d is missing", i)
	}
	if i < len(in) && in[i] != nil {
		return in[i], nil
	}
	if t, ok := g.Params[n.Inputs[i]]; ok {
		return t.Shape, nil
	}
	return nil, fmt.Errorf("input %d %q has no known shape", i, n.Inputs[i])
}

func param(g *Graph, n *Node, i int) (*Tensor, error) {
	if i >= len(n.Inputs) || n.Inputs[i] == "" {
		return nil, fmt.Errorf("input %d is missing", i)
	}
	t, ok := g.Params[n.Inputs[i]]
	if !ok {
		return nil, fmt.Errorf("input %d %q must be a constant", i, n.Inputs[i])
	}
	return t, nil
}

// optParam returns the optional constant input i, or nil when it is absent.
func optParam(g *Graph, n *Node, i int) (*Tensor, error) {
	if i >= len(n.Inputs) || n.Inputs[i] == "" {
		return nil, nil
	}
	return param(g, n, i)
}

// normAxis maps a possibly negative per-sample axis into [0, rank).
func normAxis(axis, rank int) (int, error) {
	a := axis
	if a < 0 {
		a += rank
	}
	if a < 0 || a >= rank {
		return 0, fmt.Errorf("axis %d out of range for per-sample rank %d", axis, rank)
	}
	return a, nil
}

// Broadcast returns the numpy broadcast of two shapes.
func Broadcast(a, b []int) ([]int, error) {
	r := max(len(a), len(b))
	out := make([]int, r)
	for i := range r {
		da, db := 1, 1
		if j := i - (r - len(a)); j >= 0 {
			da = a[j]
		}
		if j := i - (r - len(b)); j >= 0 {
			db = b[j]
		}
		switch {
		case da == db, db == 1:
			out[i] = da
		case da == 1:
			out[i] = db
		default:
			return nil, fmt.Errorf("shapes %v and %v do not broadcast", a, b)
		}
	}
	return out, nil
}

func checkChannels(what string, t *Tensor, c int) error {
	if t == nil {
		return nil
	}
	if Numel(t.Shape) != c {
		return fmt.Errorf("%s has %d elements, want one per channel (%d)", what, Numel(t.Shape), c)
	}
	return nil
}

func positive(shape []int) error {
	for _, d := range shape {
		if d <= 0 {
			return fmt.Errorf("output shape %v has a non-positive dimension", shape)
		}
	}
	return nil
}

// NodeOutputShape computes the per-sample shape of n's first output from the
// per-sample shapes of its inputs. in[i] is the shape of activation input i and
// nil for a constant input, whose shape is read from g.Params.
func NodeOutputShape(g *Graph, n *Node, in [][]int) ([]int, error) {
	out, err := nodeOutputShape(g, n, in)
	if err != nil {
		return nil, err
	}
	if err := positive(out); err != nil {
		return nil, err
	}
	return out, nil
}

func nodeOutputShape(g *Graph, n *Node, in [][]int) ([]int, error) {
	if len(n.Inputs) == 0 {
		return nil, errors.New("node has no inputs")
	}
	x, err := operandShape(g, n, 0, in)
	if err != nil {
		return nil, err
	}
	a := n.Attrs
	switch n.Op {
	case OpConv:
		if len(x) != 3 {
			return nil, fmt.Errorf("input shape %v: want [C, H, W]", x)
		}
		wt, err := param(g, n, 1)
		if err != nil {
			return nil, err
		}
		if len(wt.Shape) != 4 {
			return nil, fmt.Errorf("weight shape %v: want [O, C/group, KH, KW]", wt.Shape)
		}
		w, err := windowOf(n, wt.Shape[2], wt.Shape[3])
		if err != nil {
			return nil, err
		}
		o := wt.Shape[0]
		if x[0]%w.group != 0 || o%w.group != 0 {
			return nil, fmt.Errorf("group %d does not divide input channels %d and output channels %d", w.group, x[0], o)
		}
		if wt.Shape[1] != x[0]/w.group {
			return nil, fmt.Errorf("weight shape %v wants %d input channels per group, input has %d channels in %d groups", wt.Shape, wt.Shape[1], x[0], w.group)
		}
		b, err := optParam(g, n, 2)
		if err != nil {
			return nil, err
		}
		if err := checkChannels("bias", b, o); err != nil {
			return nil, err
		}
		if w.ceil {
			return nil, errors.New("ceil_mode is a pooling attribute, not valid on Conv")
		}
		oh, ow := w.out(x[1], x[2])
		return []int{o, oh, ow}, nil

	case OpDense:
		wt, err := param(g, n, 1)
		if err != nil {
			return nil, err
		}
		if len(wt.Shape) != 2 {
			return nil, fmt.Errorf("weight shape %v: want [Out, In]", wt.Shape)
		}
		if len(x) == 0 || x[len(x)-1] != wt.Shape[1] {
			return nil, fmt.Errorf("input shape %v: last axis must match weight In %d", x, wt.Shape[1])
		}
		b, err := optParam(g, n, 2)
		if err != nil {
			return nil, err
		}
		if b != nil && Numel(b.Shape) != wt.Shape[0] {
			return nil, fmt.Errorf("bias has %d elements, want Out=%d", Numel(b.Shape), wt.Shape[0])
		}
		out := append([]int(nil), x...)
		out[len(out)-1] = wt.Shape[0]
		return out, nil

	case OpAdd, OpSub, OpMul, OpDiv:
		if len(n.Inputs) != 2 {
			return nil, fmt.Errorf("want 2 inputs, have %d", len(n.Inputs))
		}
		y, err := operandShape(g, n, 1, in)
		if err != nil {
			return nil, err
		}
		return Broadcast(x, y)

	case OpRelu, OpLeakyRelu, OpSigmoid, OpTanh, OpSelu, OpLog, OpIdentity, OpDropout, OpCast, OpClippedRelu:
		return append([]int(nil), x...), nil

	case OpClip:
		if a.Min > a.Max {
			return nil, fmt.Errorf("clip min %v exceeds max %v", a.Min, a.Max)
		}
		return append([]int(nil), x...), nil

	case OpMaxPool, OpAveragePool:
		if len(x) != 3 {
			return nil, fmt.Errorf("input shape %v: want [C, H, W]", x)
		}
		if len(a.Kernel) != 2 {
			return nil, fmt.Errorf("kernel %v: want 2 values", a.Kernel)
		}
		w, err := windowOf(n, a.Kernel[0], a.Kernel[1])
		if err != nil {
			return nil, err
		}
		if w.group != 1 {
			return nil, errors.New("group is not a pooling attribute")
		}
		if w.pt >= w.kh || w.pb >= w.kh || w.pl >= w.kw || w.pr >= w.kw {
			return nil, fmt.Errorf("pads %v must be smaller than the kernel %v", a.Pads, a.Kernel)
		}
		oh, ow := w.out(x[1], x[2])
		return []int{x[0], oh, ow}, nil

	case OpGlobalAveragePool:
		if len(x) < 2 {
			return nil, fmt.Errorf("input shape %v: want [C, spatial...]", x)
		}
		out := make([]int, len(x))
		out[0] = x[0]
		for i := 1; i < len(out); i++ {
			out[i] = 1
		}
		return out, nil

	case OpBatchNorm, OpAffine:
		if len(x) == 0 {
			return nil, errors.New("input is a scalar; want a channel axis")
		}
		want := 5
		if n.Op == OpAffine {
			want = 3
		}
		if len(n.Inputs) != want {
			return nil, fmt.Errorf("want %d inputs, have %d", want, len(n.Inputs))
		}
		for i := 1; i < want; i++ {
			t, err := param(g, n, i)
			if err != nil {
				return nil, err
			}
			if err := checkChannels(fmt.Sprintf("input %d %q", i, n.Inputs[i]), t, x[0]); err != nil {
				return nil, err
			}
		}
		if n.Op == OpBatchNorm && (a.Epsilon < 0 || math.IsNaN(float64(a.Epsilon))) {
			return nil, fmt.Errorf("epsilon %v must be non-negative", a.Epsilon)
		}
		return append([]int(nil), x...), nil

	case OpFlatten:
		return []int{Numel(x)}, nil

	case OpReshape:
		if len(a.Shape) == 0 && Numel(x) != 1 {
			return nil, fmt.Errorf("reshape of %v to a scalar", x)
		}
		for _, d := range a.Shape {
			if d <= 0 {
				return nil, fmt.Errorf("target shape %v must be fully resolved (no 0 or -1)", a.Shape)
			}
		}
		if Numel(a.Shape) != Numel(x) {
			return nil, fmt.Errorf("cannot reshape %v (%d elements) to %v (%d elements)", x, Numel(x), a.Shape, Numel(a.Shape))
		}
		return append([]int(nil), a.Shape...), nil

	case OpTranspose:
		perm, err := permOf(a.Perm, len(x))
		if err != nil {
			return nil, err
		}
		out := make([]int, len(x))
		for i, p := range perm {
			out[i] = x[p]
		}
		return out, nil

	case OpConcat:
		ax, err := normAxis(a.Axis, len(x))
		if err != nil {
			return nil, err
		}
		out := append([]int(nil), x...)
		for i := 1; i < len(n.Inputs); i++ {
			y, err := operandShape(g, n, i, in)
			if err != nil {
				return nil, err
			}
			if len(y) != len(x) {
				return nil, fmt.Errorf("input %d shape %v has rank %d, input 0 shape %v rank %d", i, y, len(y), x, len(x))
			}
			for d := range y {
				if d != ax && y[d] != x[d] {
					return nil, fmt.Errorf("input %d shape %v differs from input 0 shape %v outside axis %d", i, y, x, ax)
				}
			}
			out[ax] += y[ax]
		}
		return out, nil

	case OpPad:
		if len(a.Pads) != 2*len(x) {
			return nil, fmt.Errorf("pads %v: want %d values (begins then ends) for per-sample shape %v", a.Pads, 2*len(x), x)
		}
		out := make([]int, len(x))
		for i := range x {
			out[i] = x[i] + a.Pads[i] + a.Pads[i+len(x)]
		}
		return out, nil

	case OpSoftmax, OpLogSoftmax:
		if _, err := normAxis(a.Axis, len(x)); err != nil {
			return nil, err
		}
		return append([]int(nil), x...), nil

	case OpArgMax:
		ax, err := normAxis(a.Axis, len(x))
		if err != nil {
			return nil, err
		}
		out := append([]int(nil), x...)
		if a.KeepDims {
			out[ax] = 1
			return out, nil
		}
		return append(out[:ax], out[ax+1:]...), nil
	}
	return nil, fmt.Errorf("unknown op %q", n.Op)
}

// permOf validates perm for a rank; nil means reverse the axes (ONNX default).
func permOf(perm []int, rank int) ([]int, error) {
	if perm == nil {
		p := make([]int, rank)
		for i := range p {
			p[i] = rank - 1 - i
		}
		return p, nil
	}
	if len(perm) != rank {
		return nil, fmt.Errorf("perm %v: want %d axes", perm, rank)
	}
	seen := make([]bool, rank)
	for _, p := range perm {
		if p < 0 || p >= rank || seen[p] {
			return nil, fmt.Errorf("perm %v is not a permutation of 0..%d", perm, rank-1)
		}
		seen[p] = true
	}
	return perm, nil
}

// InferShapes fills g.Shapes with the per-sample shape of every graph input
// and node output, walking the nodes in order (they must be topologically
// sorted). Errors name the node.
func InferShapes(g *Graph) error {
	shapes, err := inferShapes(g)
	if err != nil {
		return err
	}
	g.Shapes = shapes
	return nil
}

func inferShapes(g *Graph) (map[string][]int, error) {
	shapes := make(map[string][]int, len(g.Nodes)+len(g.Inputs))
	for _, v := range g.Inputs {
		if err := positive(v.Shape); err != nil {
			return nil, fmt.Errorf("graph input %q: %w", v.Name, err)
		}
		shapes[v.Name] = append([]int(nil), v.Shape...)
	}
	for _, n := range g.Nodes {
		in := make([][]int, len(n.Inputs))
		for i, name := range n.Inputs {
			if name == "" || g.IsParam(name) {
				continue
			}
			s, ok := shapes[name]
			if !ok {
				return nil, fmt.Errorf("node %q (%s): input %q is not produced before this node (graph not topologically sorted?)", n.Name, n.Op, name)
			}
			in[i] = s
		}
		out, err := NodeOutputShape(g, n, in)
		if err != nil {
			return nil, fmt.Errorf("node %q (%s): %w", n.Name, n.Op, err)
		}
		if len(n.Outputs) == 0 {
			return nil, fmt.Errorf("node %q (%s): node has no outputs", n.Name, n.Op)
		}
		if len(n.Outputs) > 1 && n.Op != OpDropout {
			return nil, fmt.Errorf("node %q (%s): has %d outputs, the op has one", n.Name, n.Op, len(n.Outputs))
		}
		for _, o := range n.Outputs {
			if o == "" {
				continue
			}
			if _, dup := shapes[o]; dup || g.IsParam(o) {
				return nil, fmt.Errorf("node %q (%s): output %q is already defined", n.Name, n.Op, o)
			}
			// Dropout's optional mask has the data's shape (all ones at inference).
			shapes[o] = out
		}
	}
	return shapes, nil
}

// MACs counts multiply-accumulates per image: for Conv, one per weight use
// (O·OH·OW·C/group·KH·KW) and for Dense Out·In per row. Bias additions,
// elementwise ops, BatchNorm/Affine, pooling and heads are not counted, so the
// figure is comparable with the synaptic operations of the SNN. It uses
// g.Shapes when complete and infers shapes otherwise; nodes whose shapes
// cannot be inferred count zero.
func MACs(g *Graph) (perNode map[string]int64, total int64) {
	shapes := g.Shapes
	if !shapesComplete(g) {
		if s, err := inferShapes(g); err == nil {
			shapes = s
		}
	}
	perNode = make(map[string]int64)
	for _, n := range g.Nodes {
		if len(n.Outputs) == 0 || len(n.Inputs) < 2 {
			continue
		}
		var m int64
		switch n.Op {
		case OpConv:
			out := shapes[n.Outputs[0]]
			wt := g.Params[n.Inputs[1]]
			if len(out) == 3 && wt != nil && len(wt.Shape) == 4 {
				m = int64(Numel(out)) * int64(wt.Shape[1]*wt.Shape[2]*wt.Shape[3])
			}
		case OpDense:
			out := shapes[n.Outputs[0]]
			wt := g.Params[n.Inputs[1]]
			if len(out) > 0 && wt != nil && len(wt.Shape) == 2 {
				m = int64(Numel(out)) * int64(wt.Shape[1])
			}
		default:
			continue
		}
		perNode[n.Name] = m
		total += m
	}
	return perNode, total
}

func shapesComplete(g *Graph) bool {
	if g.Shapes == nil {
		return false
	}
	for _, n := range g.Nodes {
		if len(n.Outputs) == 0 {
			return false
		}
		if _, ok := g.Shapes[n.Outputs[0]]; !ok {
			return false
		}
	}
	return true
}
