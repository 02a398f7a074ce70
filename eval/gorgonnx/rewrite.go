package gorgonnx

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"
)

// The rewrites below replace ops gorgonnx lacks by ops it has, on the ONNX
// bytes, before onnx-go sees the model. Each one computes what the replaced
// op defines, up to float32 summation order (see the package doc), and is
// written here from the ONNX definitions, not with the project's convert
// passes, so that the reference stays independent of the code it checks.

// More AttributeProto and TensorProto fields than scan reads.
const (
	attrFloat  = 2  // AttributeProto.f
	attrString = 4  // AttributeProto.s
	attrInts   = 8  // AttributeProto.ints
	attrType   = 20 // AttributeProto.type

	tensorFloats = 4 // TensorProto.float_data

	attrTypeInts = 7 // AttributeProto.INTS
)

// rwAttr is one decoded attribute (the value fields the rewrites read).
type rwAttr struct {
	i      int64
	ints   []int64
	floats []float32
	s      string
}

// rwNode is a node as the rewrites see it; raw is its original encoding.
type rwNode struct {
	raw             []byte
	name, op        string
	domain          string
	inputs, outputs []string
	attrs           map[string]rwAttr
}

// rewritten is a model after the rewrites: its bytes, what was rewritten
// (one line per node) and why nodes that look rewritable were left alone.
type rewritten struct {
	model   []byte
	applied []string
	refused []string
}

// rewrite applies every rewrite that fits and returns the new model bytes;
// a model with nothing to rewrite is returned unchanged.
func rewrite(model []byte) (*rewritten, error) {
	var graph []byte
	var top [][]byte // the model's fields other than the graph, re-emitted as they are
	err := eachField(model, func(num protowire.Number, typ protowire.Type, v, raw []byte) error {
		if num == modelGraph && typ == protowire.BytesType {
			graph = v
			return nil
		}
		top = append(top, raw)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("gorgonnx: not an ONNX model: %w", err)
	}
	if graph == nil {
		return nil, fmt.Errorf("gorgonnx: not an ONNX model: no graph")
	}
	r := &rewriter{weightDims: map[string][]int64{}, ints: map[string][]int64{}, scalars: map[string]float32{}, producer: map[string]*rwNode{}}
	var rest [][]byte // graph fields other than nodes
	err = eachField(graph, func(num protowire.Number, typ protowire.Type, v, raw []byte) error {
		if typ != protowire.BytesType {
			rest = append(rest, raw)
			return nil
		}
		switch num {
		case graphNode:
			n, err := parseRWNode(v)
			if err != nil {
				return err
			}
			n.raw = raw
			r.nodes = append(r.nodes, n)
			return nil
		case graphInit:
			name, dims, vals, isInt, err := tensorDimsAndInts(v)
			if err != nil {
				return err
			}
			r.weightDims[name] = dims
			if isInt {
				r.ints[name] = vals
			} else if f, ok := floatScalar(v); ok {
				r.scalars[name] = f
			}
		case graphInput:
			in, err := scanValue(v)
			if err != nil {
				return err
			}
			if len(in.dims) >= 2 && in.dims[1] > 0 {
				r.inputChannels = map[string]int64{in.name: int64(in.dims[1])}
			}
		}
		rest = append(rest, raw)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("gorgonnx: malformed graph: %w", err)
	}
	for _, n := range r.nodes {
		for _, o := range n.outputs {
			r.producer[o] = n
		}
		if n.op == "Constant" && len(n.outputs) == 1 {
			if t, ok := n.attrs["value"]; ok && t.s != "" {
				if _, dims, vals, isInt, err := tensorDimsAndInts([]byte(t.s)); err == nil && isInt {
					r.ints[n.outputs[0]] = vals
					r.weightDims[n.outputs[0]] = dims
				} else if f, ok := floatScalar([]byte(t.s)); ok {
					r.scalars[n.outputs[0]] = f
				}
			}
		}
	}
	out := &rewritten{}
	var g []byte
	for _, n := range r.nodes {
		where := fmt.Sprintf("node %q (%s)", n.name, n.op)
		var repl [][]byte
		var how, why string
		switch {
		case n.domain != "" && n.domain != "ai.onnx":
		case n.op == "Pad":
			repl, how, why = r.pad(n)
		case n.op == "AveragePool":
			repl, how, why = r.averagePool(n)
		case n.op == "Clip":
			repl, how, why = r.clip(n)
		}
		switch {
		case repl != nil:
			out.applied = append(out.applied, where+": "+how)
			for _, b := range repl {
				g = protowire.AppendTag(g, graphNode, protowire.BytesType)
				g = protowire.AppendBytes(g, b)
			}
		default:
			if why != "" {
				out.refused = append(out.refused, where+": no exact rewrite: "+why)
			}
			g = append(g, n.raw...)
		}
	}
	if len(out.applied) == 0 {
		out.model = model
		return out, nil
	}
	for _, t := range r.newInits {
		g = protowire.AppendTag(g, graphInit, protowire.BytesType)
		g = protowire.AppendBytes(g, t)
	}
	for _, f := range rest {
		g = append(g, f...)
	}
	var m []byte
	for _, f := range top {
		m = append(m, f...)
	}
	m = protowire.AppendTag(m, modelGraph, protowire.BytesType)
	out.model = protowire.AppendBytes(m, g)
	return out, nil
}

type rewriter struct {
	nodes         []*rwNode
	weightDims    map[string][]int64 // dims of initializers and int Constants
	ints          map[string][]int64 // int64 constants
	scalars       map[string]float32 // one-element float32 constants
	inputChannels map[string]int64   // the graph input's declared channel count
	producer      map[string]*rwNode
	newInits      [][]byte
}

// pad rewrites a constant-mode Pad whose pads are all zero (PyTorch emits one
// in front of every AvgPool2d) into Identity.
func (r *rewriter) pad(n *rwNode) ([][]byte, string, string) {
	if m := n.attrs["mode"].s; m != "" && m != "constant" {
		return nil, "", fmt.Sprintf("mode %q", m)
	}
	pads, ok := n.attrs["pads"].ints, n.attrs["pads"].ints != nil // opset < 11
	if len(n.inputs) >= 2 {
		pads, ok = r.ints[n.inputs[1]]
	}
	if !ok {
		return nil, "", "the pads are not a constant"
	}
	if slices.ContainsFunc(pads, func(p int64) bool { return p != 0 }) {
		return nil, "", fmt.Sprintf("non-zero pads %v", pads)
	}
	return [][]byte{encodeNode(n.name, "Identity", n.inputs[:1], n.outputs, nil)}, "all pads are zero: Identity", ""
}

// averagePool rewrites AveragePool without padding into a Conv whose weight
// is 1/(kh·kw) from each channel to itself and 0 across channels: each
// output is then the sum of its window times 1/(kh·kw), which is the window
// mean up to float32 rounding of the sum (exact products when kh·kw is a
// power of two). The channel count comes from the Conv or graph input that
// feeds the pool through channel-preserving ops.
func (r *rewriter) averagePool(n *rwNode) ([][]byte, string, string) {
	k := n.attrs["kernel_shape"].ints
	if len(k) != 2 || k[0] <= 0 || k[1] <= 0 || k[0]*k[1] > 1024 {
		return nil, "", fmt.Sprintf("kernel_shape %v is not a small 2-D kernel", k)
	}
	if p := n.attrs["pads"].ints; slices.ContainsFunc(p, func(v int64) bool { return v != 0 }) {
		return nil, "", fmt.Sprintf("pads %v (the Conv would count the padding)", p)
	}
	if a := n.attrs["auto_pad"].s; a != "" && a != "NOTSET" && a != "VALID" {
		return nil, "", "auto_pad " + a
	}
	if d := n.attrs["dilations"].ints; slices.ContainsFunc(d, func(v int64) bool { return v != 1 }) {
		return nil, "", fmt.Sprintf("dilations %v", d)
	}
	if n.attrs["ceil_mode"].i != 0 {
		// With ceil_mode a last partial window averages fewer values; only
		// shape inference could tell whether one exists.
		return nil, "", "ceil_mode=1"
	}
	c, why := r.channels(n.inputs[0])
	if c <= 0 {
		return nil, "", why
	}
	if c > 4096 || c*c*k[0]*k[1] > 1<<24 {
		return nil, "", fmt.Sprintf("%d channels make a dense %dx%d kernel too large", c, k[0], k[1])
	}
	w := make([]float32, c*c*k[0]*k[1])
	inv := 1 / float32(k[0]*k[1])
	for ch := range c {
		base := (ch*c + ch) * k[0] * k[1]
		for i := range k[0] * k[1] {
			w[base+i] = inv
		}
	}
	wName := n.name + "/avgpool_as_conv.weight"
	r.newInits = append(r.newInits, encodeFloatTensor(wName, []int64{c, c, k[0], k[1]}, w))
	strides := n.attrs["strides"].ints
	if strides == nil {
		strides = []int64{1, 1}
	}
	attrs := [][]byte{
		encodeIntsAttr("kernel_shape", k),
		encodeIntsAttr("strides", strides),
		encodeIntsAttr("pads", []int64{0, 0, 0, 0}),
	}
	conv := encodeNode(n.name, "Conv", []string{n.inputs[0], wName}, n.outputs, attrs)
	return [][]byte{conv}, fmt.Sprintf("Conv with a %dx%dx%dx%d weight of 1/%d on the channel diagonal", c, c, k[0], k[1], k[0]*k[1]), ""
}

// channels finds the channel count of value v by walking back through ops
// that keep it to a Conv (its weight's first dim) or the graph input.
func (r *rewriter) channels(v string) (int64, string) {
	for range len(r.nodes) + 1 {
		if c, ok := r.inputChannels[v]; ok {
			return c, ""
		}
		p := r.producer[v]
		if p == nil || len(p.inputs) == 0 {
			return 0, fmt.Sprintf("the channel count of %q is unknown", v)
		}
		switch p.op {
		case "Conv":
			if len(p.inputs) < 2 {
				return 0, fmt.Sprintf("Conv %q has no weight", p.name)
			}
			if d := r.weightDims[p.inputs[1]]; len(d) == 4 {
				return d[0], ""
			}
			return 0, fmt.Sprintf("the weight of Conv %q is not a 4-D initializer", p.name)
		case "Relu", "LeakyRelu", "BatchNormalization", "Identity", "Dropout", "Pad", "Clip", "MaxPool", "AveragePool":
			v = p.inputs[0]
		default:
			return 0, fmt.Sprintf("the channel count of %q (from %s %q) is unknown", v, p.op, p.name)
		}
	}
	return 0, "the graph has a cycle"
}

// clip rewrites Clip(x, lo, hi) into Max(x, lo) then Min(·, hi), the ONNX
// definition of Clip; gorgonnx computes each as a select (x·1 + y·0), exact
// for finite values. The bounds are re-emitted as [1] tensors: gorgonnx
// broadcasts those, not 0-d scalars.
func (r *rewriter) clip(n *rwNode) ([][]byte, string, string) {
	in := n.inputs
	if len(in) == 0 || len(n.outputs) != 1 {
		return nil, "", "wrong operand count"
	}
	type bound struct {
		op  string
		val float32
	}
	var bounds []bound
	for i, b := range []struct {
		op, attr string
	}{{"Max", "min"}, {"Min", "max"}} {
		switch {
		case len(in) == 1: // opset < 11: bounds are attributes
			if a, ok := n.attrs[b.attr]; ok && len(a.floats) == 1 {
				bounds = append(bounds, bound{b.op, a.floats[0]})
			}
		case len(in) > i+1 && in[i+1] != "":
			v, ok := r.scalars[in[i+1]]
			if !ok {
				return nil, "", fmt.Sprintf("bound %q is not a float32 constant", in[i+1])
			}
			bounds = append(bounds, bound{b.op, v})
		}
	}
	if len(bounds) == 0 {
		return [][]byte{encodeNode(n.name, "Identity", in[:1], n.outputs, nil)}, "no bounds: Identity", ""
	}
	x := in[0]
	var nodes [][]byte
	var how []string
	for i, b := range bounds {
		c := fmt.Sprintf("%s/clip.%s_bound", n.name, b.op)
		r.newInits = append(r.newInits, encodeFloatTensor(c, []int64{1}, []float32{b.val}))
		out := n.outputs[0]
		if i+1 < len(bounds) {
			out = fmt.Sprintf("%s/clip.%s_out", n.name, b.op)
		}
		nodes = append(nodes, encodeNode(fmt.Sprintf("%s/%s", n.name, b.op), b.op, []string{x, c}, []string{out}, nil))
		how = append(how, fmt.Sprintf("%s(·, %g)", b.op, b.val))
		x = out
	}
	return nodes, strings.Join(how, " then "), ""
}

// floatScalar reads a one-element float32 TensorProto.
func floatScalar(b []byte) (float32, bool) {
	var dt uint64
	var vals []float32
	err := fields(b, func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
		switch {
		case num == tensorDataType && typ == protowire.VarintType:
			dt = x
		case num == tensorFloats && typ == protowire.Fixed32Type:
			vals = append(vals, math.Float32frombits(uint32(x)))
		case num == tensorFloats && typ == protowire.BytesType, num == tensorRaw && typ == protowire.BytesType:
			for ; len(v) >= 4; v = v[4:] {
				vals = append(vals, math.Float32frombits(binary.LittleEndian.Uint32(v)))
			}
		}
		return nil
	})
	if err != nil || dt != elemFloat || len(vals) != 1 {
		return 0, false
	}
	return vals[0], true
}

// eachField is fields with the raw encoding of each field passed along.
func eachField(b []byte, f func(num protowire.Number, typ protowire.Type, v, raw []byte) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		m := protowire.ConsumeFieldValue(num, typ, b[n:])
		if m < 0 {
			return protowire.ParseError(m)
		}
		var v []byte
		if typ == protowire.BytesType {
			v, _ = protowire.ConsumeBytes(b[n:])
		}
		if err := f(num, typ, v, b[:n+m]); err != nil {
			return err
		}
		b = b[n+m:]
	}
	return nil
}

func parseRWNode(b []byte) (*rwNode, error) {
	n := &rwNode{attrs: map[string]rwAttr{}}
	err := fields(b, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		if typ != protowire.BytesType {
			return nil
		}
		switch num {
		case nodeInput:
			n.inputs = append(n.inputs, string(v))
		case nodeOutput:
			n.outputs = append(n.outputs, string(v))
		case nodeName:
			n.name = string(v)
		case nodeOpType:
			n.op = string(v)
		case nodeDomain:
			n.domain = string(v)
		case nodeAttr:
			var name string
			var a rwAttr
			err := fields(v, func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
				switch {
				case num == attrName && typ == protowire.BytesType:
					name = string(v)
				case num == attrInt && typ == protowire.VarintType:
					a.i = int64(x)
				case num == attrFloat && typ == protowire.Fixed32Type:
					a.floats = append(a.floats, math.Float32frombits(uint32(x)))
				case num == attrString && typ == protowire.BytesType, num == attrTensor && typ == protowire.BytesType:
					a.s = string(v)
				case num == attrInts:
					var err error
					a.ints, err = appendInts(a.ints, typ, v, x)
					return err
				}
				return nil
			})
			if err != nil {
				return err
			}
			n.attrs[name] = a
		}
		return nil
	})
	return n, err
}

// tensorDimsAndInts reads a TensorProto's name and dims, and its values when
// it holds int64s.
func tensorDimsAndInts(b []byte) (name string, dims, vals []int64, isInt64 bool, err error) {
	name, vals, isInt64, err = scanTensor(b)
	if err != nil {
		return
	}
	err = fields(b, func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
		if num != tensorDims {
			return nil
		}
		var err error
		dims, err = appendInts(dims, typ, v, x)
		return err
	})
	return
}

func encodeNode(name, op string, inputs, outputs []string, attrs [][]byte) []byte {
	var b []byte
	for _, s := range inputs {
		b = protowire.AppendTag(b, nodeInput, protowire.BytesType)
		b = protowire.AppendString(b, s)
	}
	for _, s := range outputs {
		b = protowire.AppendTag(b, nodeOutput, protowire.BytesType)
		b = protowire.AppendString(b, s)
	}
	b = protowire.AppendTag(b, nodeName, protowire.BytesType)
	b = protowire.AppendString(b, name)
	b = protowire.AppendTag(b, nodeOpType, protowire.BytesType)
	b = protowire.AppendString(b, op)
	for _, a := range attrs {
		b = protowire.AppendTag(b, nodeAttr, protowire.BytesType)
		b = protowire.AppendBytes(b, a)
	}
	return b
}

func encodeIntsAttr(name string, v []int64) []byte {
	b := protowire.AppendTag(nil, attrName, protowire.BytesType)
	b = protowire.AppendString(b, name)
	for _, x := range v {
		b = protowire.AppendTag(b, attrInts, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(x))
	}
	b = protowire.AppendTag(b, attrType, protowire.VarintType)
	return protowire.AppendVarint(b, attrTypeInts)
}

// encodeFloatTensor writes a float32 TensorProto with raw data; nil dims is
// a scalar.
func encodeFloatTensor(name string, dims []int64, v []float32) []byte {
	var b []byte
	for _, d := range dims {
		b = protowire.AppendTag(b, tensorDims, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(d))
	}
	b = protowire.AppendTag(b, tensorDataType, protowire.VarintType)
	b = protowire.AppendVarint(b, elemFloat)
	b = protowire.AppendTag(b, tensorName, protowire.BytesType)
	b = protowire.AppendString(b, name)
	raw := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(x))
	}
	b = protowire.AppendTag(b, tensorRaw, protowire.BytesType)
	return protowire.AppendBytes(b, raw)
}
