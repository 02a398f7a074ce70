package importer

import (
	"encoding/binary"
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// The sanitized model handed to onnx-go: the same nodes in the same order,
// every tensor re-encoded as float32 or int64 raw data (the types onnx-go
// decodes reliably), attribute types filled in, attributes it cannot decode
// (sub-graphs, tensor lists) and inert inputs dropped, and graph inputs and
// outputs reduced to their names so that onnx-go allocates nothing from
// declared shapes. Everything dropped here is still known to the wire pass.

func appendString(b []byte, num protowire.Number, s string) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

func appendBytes(b []byte, num protowire.Number, v []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

func appendVarint(b []byte, num protowire.Number, v uint64) []byte {
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

// encodeConst writes c as a TensorProto with float32 or int64 raw data.
func encodeConst(name string, c *constTensor) []byte {
	var b []byte
	for _, d := range c.shape {
		b = appendVarint(b, 1, uint64(d))
	}
	if c.isInt {
		b = appendVarint(b, 2, dtInt64)
		raw := make([]byte, 8*len(c.data))
		for i, v := range c.data {
			binary.LittleEndian.PutUint64(raw[8*i:], uint64(int64(v)))
		}
		b = appendBytes(b, 9, raw)
	} else {
		b = appendVarint(b, 2, dtFloat)
		raw := make([]byte, 4*len(c.data))
		for i, v := range c.data {
			binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(float32(v)))
		}
		b = appendBytes(b, 9, raw)
	}
	return appendString(b, 8, name)
}

// onnxGoCarries reports whether onnx-go can decode c: it fails on tensors
// without data.
func onnxGoCarries(c *constTensor) bool { return c != nil && len(c.data) > 0 }

func encodeAttr(a *wAttr, t *constTensor) []byte {
	b := appendString(nil, 1, a.Name)
	b = appendVarint(b, 20, uint64(a.Type))
	switch a.Type {
	case atFloat:
		b = protowire.AppendTag(b, 2, protowire.Fixed32Type)
		b = protowire.AppendFixed32(b, math.Float32bits(a.F))
	case atInt:
		b = appendVarint(b, 3, uint64(a.I))
	case atString:
		b = appendBytes(b, 4, a.S)
	case atTensor:
		b = appendBytes(b, 5, encodeConst("", t))
	case atFloats:
		var p []byte
		for _, v := range a.Floats {
			p = protowire.AppendFixed32(p, math.Float32bits(v))
		}
		b = appendBytes(b, 7, p)
	case atInts:
		var p []byte
		for _, v := range a.Ints {
			p = protowire.AppendVarint(p, uint64(v))
		}
		b = appendBytes(b, 8, p)
	case atStrings:
		for _, s := range a.Strings {
			b = appendBytes(b, 9, s)
		}
	}
	return b
}

// onnxGoAttr reports whether an attribute can be handed to onnx-go.
func onnxGoAttr(a *wAttr, t *constTensor) bool {
	switch a.Type {
	case atFloat, atInt, atString, atFloats, atInts, atStrings:
		return true
	case atTensor:
		return onnxGoCarries(t)
	}
	return false
}

// sanitizedInputs is the input list onnx-go gets for a node: Dropout's ratio
// and training_mode inputs are inert at inference and, being bool or scalar
// initializers, are what onnx-go fails to decode, so they are dropped.
func sanitizedInputs(n *wNode) []string {
	if n.OpType == "Dropout" && n.Domain == "" && len(n.Inputs) > 1 {
		return n.Inputs[:1]
	}
	return n.Inputs
}

// encodeSanitized builds the model bytes for onnx-go. inits and attrTensors
// hold the decoded tensors (nil for ones that failed to decode, which are
// left out).
func encodeSanitized(m *wModel, inits []*constTensor, attrTensors map[*wAttr]*constTensor) []byte {
	var g []byte
	for _, n := range m.Graph.Nodes {
		var nb []byte
		for _, in := range sanitizedInputs(n) {
			nb = appendString(nb, 1, in)
		}
		for _, out := range n.Outputs {
			nb = appendString(nb, 2, out)
		}
		nb = appendString(nb, 3, n.Name)
		nb = appendString(nb, 4, n.OpType)
		nb = appendString(nb, 7, n.Domain)
		for _, a := range n.Attrs {
			if t := attrTensors[a]; onnxGoAttr(a, t) {
				nb = appendBytes(nb, 5, encodeAttr(a, t))
			}
		}
		g = appendBytes(g, 1, nb)
	}
	g = appendString(g, 2, m.Graph.Name)
	for i, t := range m.Graph.Inits {
		if onnxGoCarries(inits[i]) {
			g = appendBytes(g, 5, encodeConst(t.Name, inits[i]))
		}
	}
	for _, v := range m.Graph.Inputs {
		g = appendBytes(g, 11, appendString(nil, 1, v.Name))
	}
	for _, v := range m.Graph.Outputs {
		g = appendBytes(g, 12, appendString(nil, 1, v.Name))
	}
	b := appendVarint(nil, 1, uint64(m.IRVersion))
	b = appendString(b, 2, m.Producer)
	b = appendBytes(b, 7, g)
	for _, o := range m.Opsets {
		ob := appendString(nil, 1, o.Domain)
		ob = appendVarint(ob, 2, uint64(o.Version))
		b = appendBytes(b, 8, ob)
	}
	return b
}
