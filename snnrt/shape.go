package snnrt

import (
	"fmt"
	"math"
)

// numel is the number of elements of a per-sample shape.
func numel(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

func sameShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// maxElems caps every per-sample value and weight tensor so that a corrupt
// network cannot make the runtime allocate without bound.
const maxElems = 1 << 28

// geom2d is the resolved spatial attribute set of a Conv or pooling node.
type geom2d struct {
	kh, kw, sh, sw, pt, pl, pb, pr, dh, dw int
}

// resolveGeom fills ONNX defaults: strides and dilations 1, pads 0.
func resolveGeom(n *Node, kh, kw int) (geom2d, error) {
	g := geom2d{kh: kh, kw: kw, sh: 1, sw: 1, dh: 1, dw: 1}
	if len(n.Kernel) != 0 && (len(n.Kernel) != 2 || n.Kernel[0] != kh || n.Kernel[1] != kw) {
		return g, fmt.Errorf("kernel %v does not match weights (%d×%d)", n.Kernel, kh, kw)
	}
	switch len(n.Strides) {
	case 0:
	case 2:
		g.sh, g.sw = n.Strides[0], n.Strides[1]
	default:
		return g, fmt.Errorf("strides %v: want 2 entries", n.Strides)
	}
	switch len(n.Pads) {
	case 0:
	case 4:
		g.pt, g.pl, g.pb, g.pr = n.Pads[0], n.Pads[1], n.Pads[2], n.Pads[3]
	default:
		return g, fmt.Errorf("pads %v: want 4 entries (top, left, bottom, right)", n.Pads)
	}
	switch len(n.Dilations) {
	case 0:
	case 2:
		g.dh, g.dw = n.Dilations[0], n.Dilations[1]
	default:
		return g, fmt.Errorf("dilations %v: want 2 entries", n.Dilations)
	}
	if g.kh <= 0 || g.kw <= 0 || g.kh > 1<<12 || g.kw > 1<<12 {
		return g, fmt.Errorf("kernel %d×%d out of range", g.kh, g.kw)
	}
	if g.sh <= 0 || g.sw <= 0 || g.dh <= 0 || g.dw <= 0 || g.sh > 1<<12 || g.sw > 1<<12 || g.dh > 1<<12 || g.dw > 1<<12 {
		return g, fmt.Errorf("strides %v and dilations %v must be positive", n.Strides, n.Dilations)
	}
	for _, p := range []int{g.pt, g.pl, g.pb, g.pr} {
		if p < 0 || p > 1<<12 {
			return g, fmt.Errorf("pads %v out of range", n.Pads)
		}
	}
	return g, nil
}

// out returns the output spatial size (floor mode, as ONNX).
func (g geom2d) out(h, w int) (int, int, error) {
	eh := g.dh*(g.kh-1) + 1
	ew := g.dw*(g.kw-1) + 1
	ih, iw := h+g.pt+g.pb, w+g.pl+g.pr
	if ih < eh || iw < ew {
		return 0, 0, fmt.Errorf("kernel %d×%d (dilated %d×%d) larger than padded input %d×%d", g.kh, g.kw, eh, ew, ih, iw)
	}
	return (ih-eh)/g.sh + 1, (iw-ew)/g.sw + 1, nil
}

func checkTensor(what string, t *Tensor, shape ...int) error {
	if t == nil {
		return fmt.Errorf("%s missing", what)
	}
	if !sameShape(t.Shape, shape) {
		return fmt.Errorf("%s has shape %v, want %v", what, t.Shape, shape)
	}
	if len(t.Data) != numel(shape) {
		return fmt.Errorf("%s holds %d values, shape %v needs %d", what, len(t.Data), shape, numel(shape))
	}
	return checkFinite(what, t.Data)
}

func checkFinite(what string, d []float32) error {
	for i, v := range d {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("%s[%d] is %v", what, i, v)
		}
	}
	return nil
}

// inferShapes checks the whole network and returns the per-sample shape of
// every value. It does not modify net; a node whose Shape is set must agree
// with the inferred one.
func inferShapes(net *Network) (map[string][]int, error) {
	if net == nil {
		return nil, fmt.Errorf("nil network")
	}
	if net.Input == "" {
		return nil, fmt.Errorf("network %q: no input name", net.Name)
	}
	if len(net.InputShape) == 0 {
		return nil, fmt.Errorf("network %q: input %q has no shape", net.Name, net.Input)
	}
	for _, d := range net.InputShape {
		if d <= 0 || d > maxElems {
			return nil, fmt.Errorf("network %q: input %q has bad shape %v", net.Name, net.Input, net.InputShape)
		}
	}
	if numel(net.InputShape) > maxElems {
		return nil, fmt.Errorf("network %q: input %q shape %v too large", net.Name, net.Input, net.InputShape)
	}
	shapes := map[string][]int{net.Input: net.InputShape}
	for i, n := range net.Nodes {
		if n == nil {
			return nil, fmt.Errorf("network %q: node %d is nil", net.Name, i)
		}
		s, err := nodeShape(n, shapes)
		if err != nil {
			return nil, fmt.Errorf("node %q (%s): %w", n.Name, n.Op, err)
		}
		if n.Output == "" {
			return nil, fmt.Errorf("node %q (%s): no output name", n.Name, n.Op)
		}
		if _, dup := shapes[n.Output]; dup {
			return nil, fmt.Errorf("node %q (%s): output %q defined twice", n.Name, n.Op, n.Output)
		}
		if len(n.Shape) != 0 && !sameShape(n.Shape, s) {
			return nil, fmt.Errorf("node %q (%s): declared shape %v, inferred %v", n.Name, n.Op, n.Shape, s)
		}
		if numel(s) > maxElems || numel(s) <= 0 {
			return nil, fmt.Errorf("node %q (%s): output shape %v out of range", n.Name, n.Op, s)
		}
		shapes[n.Output] = s
	}
	if net.Output == "" {
		return nil, fmt.Errorf("network %q: no output value", net.Name)
	}
	if _, ok := shapes[net.Output]; !ok {
		return nil, fmt.Errorf("network %q: output %q is not produced by any node", net.Name, net.Output)
	}
	return shapes, nil
}

// InferShapes fills every node's missing Shape and checks the ones present
// (and weights, attributes and wiring along the way).
func (net *Network) InferShapes() error {
	shapes, err := inferShapes(net)
	if err != nil {
		return err
	}
	for _, n := range net.Nodes {
		if len(n.Shape) == 0 {
			n.Shape = append([]int(nil), shapes[n.Output]...)
		}
	}
	return nil
}

// Validate reports the first structural problem of the network, or nil.
func (net *Network) Validate() error {
	_, err := inferShapes(net)
	return err
}

func nodeShape(n *Node, shapes map[string][]int) ([]int, error) {
	ins := make([][]int, len(n.Inputs))
	for i, name := range n.Inputs {
		s, ok := shapes[name]
		if !ok {
			return nil, fmt.Errorf("input %q is not defined before this node", name)
		}
		ins[i] = s
	}
	want := func(k int) error {
		if len(ins) != k {
			return fmt.Errorf("has %d inputs, want %d", len(ins), k)
		}
		return nil
	}
	switch n.Op {
	case OpConv:
		if err := want(1); err != nil {
			return nil, err
		}
		x := ins[0]
		if len(x) != 3 {
			return nil, fmt.Errorf("input shape %v: want [C, H, W]", x)
		}
		if n.W == nil || len(n.W.Shape) != 4 {
			return nil, fmt.Errorf("weights must be [O, C/group, KH, KW]")
		}
		grp := n.Group
		if grp == 0 {
			grp = 1
		}
		o, cg, kh, kw := n.W.Shape[0], n.W.Shape[1], n.W.Shape[2], n.W.Shape[3]
		if grp < 0 || x[0]%grp != 0 || o%grp != 0 || cg != x[0]/grp {
			return nil, fmt.Errorf("group %d does not fit %d input channels, weights %v", grp, x[0], n.W.Shape)
		}
		if o <= 0 || o > maxElems || kh*kw*cg <= 0 || o*cg*kh*kw > maxElems {
			return nil, fmt.Errorf("weights %v out of range", n.W.Shape)
		}
		if err := checkTensor("W", n.W, o, cg, kh, kw); err != nil {
			return nil, err
		}
		if n.B != nil {
			if err := checkTensor("B", n.B, o); err != nil {
				return nil, err
			}
		}
		g, err := resolveGeom(n, kh, kw)
		if err != nil {
			return nil, err
		}
		oh, ow, err := g.out(x[1], x[2])
		if err != nil {
			return nil, err
		}
		return []int{o, oh, ow}, nil
	case OpDense:
		if err := want(1); err != nil {
			return nil, err
		}
		if len(ins[0]) != 1 {
			return nil, fmt.Errorf("input shape %v: want [In] (flatten first)", ins[0])
		}
		if n.W == nil || len(n.W.Shape) != 2 || n.W.Shape[1] != ins[0][0] || n.W.Shape[0] <= 0 || n.W.Shape[0] > maxElems {
			return nil, fmt.Errorf("weights must be [Out, %d]", ins[0][0])
		}
		if err := checkTensor("W", n.W, n.W.Shape[0], ins[0][0]); err != nil {
			return nil, err
		}
		if n.B != nil {
			if err := checkTensor("B", n.B, n.W.Shape[0]); err != nil {
				return nil, err
			}
		}
		return []int{n.W.Shape[0]}, nil
	case OpSumPool, OpSpikeMaxPool:
		if err := want(1); err != nil {
			return nil, err
		}
		x := ins[0]
		if len(x) != 3 {
			return nil, fmt.Errorf("input shape %v: want [C, H, W]", x)
		}
		if len(n.Kernel) != 2 {
			return nil, fmt.Errorf("kernel %v: want 2 entries", n.Kernel)
		}
		if len(n.Dilations) != 0 && (len(n.Dilations) != 2 || n.Dilations[0] != 1 || n.Dilations[1] != 1) {
			return nil, fmt.Errorf("dilated pooling is not supported")
		}
		g, err := resolveGeom(n, n.Kernel[0], n.Kernel[1])
		if err != nil {
			return nil, err
		}
		oh, ow, err := g.out(x[1], x[2])
		if err != nil {
			return nil, err
		}
		return []int{x[0], oh, ow}, nil
	case OpFlatten:
		if err := want(1); err != nil {
			return nil, err
		}
		return []int{numel(ins[0])}, nil
	case OpReshape:
		if err := want(1); err != nil {
			return nil, err
		}
		if len(n.Shape) == 0 {
			return nil, fmt.Errorf("needs its output Shape")
		}
		for _, d := range n.Shape {
			if d <= 0 {
				return nil, fmt.Errorf("shape %v must be fully resolved", n.Shape)
			}
		}
		if numel(n.Shape) != numel(ins[0]) {
			return nil, fmt.Errorf("shape %v does not hold the %d values of %v", n.Shape, numel(ins[0]), ins[0])
		}
		return append([]int(nil), n.Shape...), nil
	case OpAdd:
		if len(ins) < 2 {
			return nil, fmt.Errorf("has %d inputs, want at least 2", len(ins))
		}
		for i := 1; i < len(ins); i++ {
			if !sameShape(ins[i], ins[0]) {
				return nil, fmt.Errorf("input %q shape %v differs from %q shape %v", n.Inputs[i], ins[i], n.Inputs[0], ins[0])
			}
		}
		if n.Scales != nil {
			if len(n.Scales) != len(ins) {
				return nil, fmt.Errorf("%d scales for %d inputs", len(n.Scales), len(ins))
			}
			if err := checkFinite("scales", n.Scales); err != nil {
				return nil, err
			}
		}
		return append([]int(nil), ins[0]...), nil
	case OpConcat:
		if len(ins) < 1 {
			return nil, fmt.Errorf("has no inputs")
		}
		r := len(ins[0])
		if n.Axis < 0 || n.Axis >= r {
			return nil, fmt.Errorf("axis %d out of range for rank %d", n.Axis, r)
		}
		out := append([]int(nil), ins[0]...)
		for i := 1; i < len(ins); i++ {
			if len(ins[i]) != r {
				return nil, fmt.Errorf("input %q rank %d differs from %d", n.Inputs[i], len(ins[i]), r)
			}
			for a := range r {
				if a != n.Axis && ins[i][a] != out[a] {
					return nil, fmt.Errorf("input %q shape %v does not match %v off axis %d", n.Inputs[i], ins[i], ins[0], n.Axis)
				}
			}
			out[n.Axis] += ins[i][n.Axis]
		}
		return out, nil
	case OpAffine:
		if err := want(1); err != nil {
			return nil, err
		}
		c := ins[0][0]
		if err := checkTensor("W", n.W, c); err != nil {
			return nil, err
		}
		if n.B != nil {
			if err := checkTensor("B", n.B, c); err != nil {
				return nil, err
			}
		}
		return append([]int(nil), ins[0]...), nil
	case OpIF:
		if err := want(1); err != nil {
			return nil, err
		}
		c := ins[0][0]
		if len(n.Threshold) != 1 && len(n.Threshold) != c {
			return nil, fmt.Errorf("%d thresholds: want 1 or %d (one per channel)", len(n.Threshold), c)
		}
		for i, th := range n.Threshold {
			if !(th > 0) || math.IsInf(float64(th), 0) {
				return nil, fmt.Errorf("threshold[%d] = %v: must be positive and finite", i, th)
			}
		}
		switch n.Reset {
		case ResetSubtract, ResetZero, "":
		default:
			return nil, fmt.Errorf("unknown reset mode %q", n.Reset)
		}
		if math.IsNaN(float64(n.VInit)) || math.IsInf(float64(n.VInit), 0) {
			return nil, fmt.Errorf("v_init %v is not finite", n.VInit)
		}
		return append([]int(nil), ins[0]...), nil
	}
	return nil, fmt.Errorf("unknown op %q", n.Op)
}
