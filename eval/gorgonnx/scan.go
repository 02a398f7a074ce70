package gorgonnx

import (
	"encoding/binary"
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// The few ONNX protobuf fields the scan reads (onnx.proto3 field numbers).
const (
	modelGraph  = 7 // ModelProto.graph
	modelOpset  = 8 // ModelProto.opset_import
	opsetDomain = 1 // OperatorSetIdProto.domain
	opsetVer    = 2 // OperatorSetIdProto.version

	graphNode  = 1  // GraphProto.node
	graphInit  = 5  // GraphProto.initializer
	graphInput = 11 // GraphProto.input

	nodeInput  = 1 // NodeProto.input
	nodeOutput = 2 // NodeProto.output
	nodeName   = 3 // NodeProto.name
	nodeOpType = 4 // NodeProto.op_type
	nodeAttr   = 5 // NodeProto.attribute
	nodeDomain = 7 // NodeProto.domain

	attrName   = 1 // AttributeProto.name
	attrInt    = 3 // AttributeProto.i
	attrTensor = 5 // AttributeProto.t

	tensorDims     = 1 // TensorProto.dims
	tensorDataType = 2 // TensorProto.data_type
	tensorInt64s   = 7 // TensorProto.int64_data
	tensorRaw      = 9 // TensorProto.raw_data
	elemInt64      = 7

	tensorName = 8 // TensorProto.name

	valueName   = 1 // ValueInfoProto.name
	valueType   = 2 // ValueInfoProto.type
	typeTensor  = 1 // TypeProto.tensor_type
	tensorElem  = 1 // TypeProto.Tensor.elem_type
	tensorShape = 2 // TypeProto.Tensor.shape
	shapeDim    = 1 // TensorShapeProto.dim
	dimValue    = 1 // Dimension.dim_value
	dimParam    = 2 // Dimension.dim_param

	elemFloat = 1 // TensorProto.DataType FLOAT
)

func elemName(t int64) string {
	names := map[int64]string{1: "float32", 2: "uint8", 3: "int8", 4: "uint16", 5: "int16", 6: "int32", 7: "int64", 8: "string", 9: "bool", 10: "float16", 11: "float64", 16: "bfloat16"}
	if s, ok := names[t]; ok {
		return s
	}
	return fmt.Sprintf("type %d", t)
}

type nodeInfo struct {
	name, op, domain string
	inputs, outputs  []string
	group            int64
	attrs            map[string]bool
	value            []int64 // a Constant node's int64 value
	isInt64          bool
}

// dim is one declared input dimension: a value, or symbolic (value < 0).
type dim int64

type inputInfo struct {
	name     string
	elemType int64
	dims     []dim
}

type modelInfo struct {
	opsets      map[string]int64
	ints        map[string][]int64 // int64 constants (initializers, Constant nodes) by name
	nodes       []nodeInfo
	input       *inputInfo
	extraInputs int
}

// fields walks the top-level fields of a message, calling f for each; f gets
// the field number, wire type and the raw value (bytes for length-delimited
// fields, the varint or the fixed32/fixed64 bits otherwise).
func fields(b []byte, f func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		var v []byte
		var x uint64
		switch typ {
		case protowire.BytesType:
			v, n = protowire.ConsumeBytes(b)
		case protowire.VarintType:
			x, n = protowire.ConsumeVarint(b)
		case protowire.Fixed32Type:
			var u uint32
			u, n = protowire.ConsumeFixed32(b)
			x = uint64(u)
		case protowire.Fixed64Type:
			x, n = protowire.ConsumeFixed64(b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		if err := f(num, typ, v, x); err != nil {
			return err
		}
	}
	return nil
}

// appendInts appends a repeated int64 field's value: one varint, or a packed
// run of them.
func appendInts(dst []int64, typ protowire.Type, v []byte, x uint64) ([]int64, error) {
	if typ == protowire.VarintType {
		return append(dst, int64(x)), nil
	}
	if typ != protowire.BytesType {
		return dst, nil
	}
	for len(v) > 0 {
		x, n := protowire.ConsumeVarint(v)
		if n < 0 {
			return dst, protowire.ParseError(n)
		}
		dst = append(dst, int64(x))
		v = v[n:]
	}
	return dst, nil
}

// scan reads what Supported needs from the model bytes without onnx-go.
func scan(model []byte) (*modelInfo, error) {
	m := &modelInfo{opsets: map[string]int64{}, ints: map[string][]int64{}}
	var graph []byte
	err := fields(model, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		switch {
		case num == modelGraph && typ == protowire.BytesType:
			graph = v
		case num == modelOpset && typ == protowire.BytesType:
			var domain string
			var ver int64
			if err := fields(v, func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
				if num == opsetDomain && typ == protowire.BytesType {
					domain = string(v)
				}
				if num == opsetVer && typ == protowire.VarintType {
					ver = int64(x)
				}
				return nil
			}); err != nil {
				return err
			}
			if domain == "ai.onnx" {
				domain = ""
			}
			m.opsets[domain] = ver
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("gorgonnx: not an ONNX model: %w", err)
	}
	if graph == nil {
		return nil, errors.New("gorgonnx: not an ONNX model: no graph")
	}
	inits := map[string]bool{}
	var inputs []*inputInfo
	err = fields(graph, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		if typ != protowire.BytesType {
			return nil
		}
		switch num {
		case graphNode:
			n, err := scanNode(v)
			if err != nil {
				return err
			}
			m.nodes = append(m.nodes, n)
			if n.op == "Constant" && n.isInt64 && len(n.outputs) == 1 {
				m.ints[n.outputs[0]] = n.value
			}
		case graphInit:
			name, vals, isInt, err := scanTensor(v)
			if err != nil {
				return err
			}
			inits[name] = true
			if isInt {
				m.ints[name] = vals
			}
		case graphInput:
			in, err := scanValue(v)
			if err != nil {
				return err
			}
			inputs = append(inputs, in)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("gorgonnx: malformed graph: %w", err)
	}
	for _, in := range inputs {
		if inits[in.name] {
			continue
		}
		if m.input == nil {
			m.input = in
		} else {
			m.extraInputs++
		}
	}
	return m, nil
}

// scanTensor reads a TensorProto's name and, for int64 tensors, its values.
func scanTensor(b []byte) (name string, vals []int64, isInt64 bool, err error) {
	var raw []byte
	err = fields(b, func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
		switch {
		case num == tensorName && typ == protowire.BytesType:
			name = string(v)
		case num == tensorDataType && typ == protowire.VarintType:
			isInt64 = x == elemInt64
		case num == tensorInt64s:
			var err error
			vals, err = appendInts(vals, typ, v, x)
			return err
		case num == tensorRaw && typ == protowire.BytesType:
			raw = v
		}
		return nil
	})
	if isInt64 && raw != nil {
		if len(raw)%8 != 0 {
			return name, nil, false, fmt.Errorf("tensor %q: raw int64 data of %d bytes", name, len(raw))
		}
		vals = vals[:0]
		for i := 0; i < len(raw); i += 8 {
			vals = append(vals, int64(binary.LittleEndian.Uint64(raw[i:])))
		}
	}
	return name, vals, isInt64, err
}

// scanNode is parseRWNode reduced to what the scan checks.
func scanNode(b []byte) (nodeInfo, error) {
	rn, err := parseRWNode(b)
	if err != nil {
		return nodeInfo{}, err
	}
	n := nodeInfo{name: rn.name, op: rn.op, domain: rn.domain, inputs: rn.inputs, outputs: rn.outputs,
		attrs: map[string]bool{}, group: rn.attrs["group"].i}
	for name := range rn.attrs {
		n.attrs[name] = true
	}
	if t := rn.attrs["value"].s; t != "" {
		if _, n.value, n.isInt64, err = scanTensor([]byte(t)); err != nil {
			return nodeInfo{}, err
		}
	}
	return n, nil
}

func scanValue(b []byte) (*inputInfo, error) {
	in := &inputInfo{}
	err := fields(b, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		if typ != protowire.BytesType {
			return nil
		}
		switch num {
		case valueName:
			in.name = string(v)
		case valueType:
			return fields(v, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
				if num != typeTensor || typ != protowire.BytesType {
					return nil
				}
				return fields(v, func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
					switch {
					case num == tensorElem && typ == protowire.VarintType:
						in.elemType = int64(x)
					case num == tensorShape && typ == protowire.BytesType:
						return fields(v, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
							if num != shapeDim || typ != protowire.BytesType {
								return nil
							}
							d := dim(-1)
							err := fields(v, func(num protowire.Number, typ protowire.Type, _ []byte, x uint64) error {
								if num == dimValue && typ == protowire.VarintType {
									d = dim(x)
								}
								return nil
							})
							in.dims = append(in.dims, d)
							return err
						})
					}
					return nil
				})
			})
		}
		return nil
	})
	return in, err
}

// sampleShape returns the per-sample shape to feed and the model's fixed
// batch size (0 when the batch axis is symbolic). given is the caller's
// per-sample shape, which must hold as many values as the declared one.
func (in *inputInfo) sampleShape(given []int) ([]int, int, error) {
	if len(in.dims) == 0 {
		return given, 0, nil
	}
	fixed := 0
	if in.dims[0] > 0 {
		fixed = int(in.dims[0])
	}
	sample := make([]int, len(in.dims)-1)
	free := -1
	prod := 1
	for i, d := range in.dims[1:] {
		if d <= 0 {
			if free >= 0 {
				return given, fixed, nil // several symbolic dims: trust the caller's shape
			}
			free = i
			continue
		}
		sample[i] = int(d)
		prod *= int(d)
	}
	want := 1
	for _, d := range given {
		want *= d
	}
	if free >= 0 {
		if want%prod != 0 {
			return nil, 0, fmt.Errorf("gorgonnx: input %q declares %v; a sample of %v does not fit", in.name, in.dims, given)
		}
		sample[free] = want / prod
		prod = want
	}
	if prod != want {
		return nil, 0, fmt.Errorf("gorgonnx: input %q declares per-sample dims %v (%d values); given samples of %v (%d values)", in.name, in.dims[1:], prod, given, want)
	}
	return sample, fixed, nil
}

// concrete returns the declared per-sample shape and a batch size to try
// (the fixed one, else 2), when every per-sample dimension is declared.
func (in *inputInfo) concrete() ([]int, int, bool) {
	if len(in.dims) < 2 {
		return nil, 0, false
	}
	sample := make([]int, len(in.dims)-1)
	for i, d := range in.dims[1:] {
		if d <= 0 {
			return nil, 0, false
		}
		sample[i] = int(d)
	}
	batch := 2
	if in.dims[0] > 0 {
		batch = int(in.dims[0])
	}
	return sample, batch, true
}
