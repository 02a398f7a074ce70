package importer

import (
	"errors"
	"fmt"
	"math"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
)

// The wire pre-pass reads the ONNX protobuf directly. onnx-go's own protobuf
// types are internal, and its decoder loses things this package needs (opset,
// node names, symbolic dimensions, several tensor types, external data), so
// this file parses the handful of messages that matter into small structs,
// validates them (bounded by the input size), and re-encodes a sanitized model
// that onnx-go can decode without failing or allocating from untrusted sizes.

// ONNX TensorProto.DataType values.
const (
	dtUndefined = 0
	dtFloat     = 1
	dtUint8     = 2
	dtInt8      = 3
	dtUint16    = 4
	dtInt16     = 5
	dtInt32     = 6
	dtInt64     = 7
	dtString    = 8
	dtBool      = 9
	dtFloat16   = 10
	dtDouble    = 11
	dtUint32    = 12
	dtUint64    = 13
	dtBfloat16  = 16
)

var dtypeNames = map[int32]string{
	dtFloat: "float32", dtUint8: "uint8", dtInt8: "int8", dtUint16: "uint16", dtInt16: "int16",
	dtInt32: "int32", dtInt64: "int64", dtString: "string", dtBool: "bool", dtFloat16: "float16",
	dtDouble: "float64", dtUint32: "uint32", dtUint64: "uint64", 14: "complex64", 15: "complex128",
	dtBfloat16: "bfloat16",
}

func dtypeName(t int32) string {
	if s, ok := dtypeNames[t]; ok {
		return s
	}
	return fmt.Sprintf("dtype(%d)", t)
}

// elemSize is the raw_data byte width of a data type (0 when raw data is not
// defined for it).
func elemSize(t int32) int {
	switch t {
	case dtUint8, dtInt8, dtBool:
		return 1
	case dtUint16, dtInt16, dtFloat16, dtBfloat16:
		return 2
	case dtFloat, dtInt32, dtUint32:
		return 4
	case dtInt64, dtDouble, dtUint64:
		return 8
	}
	return 0
}

// ONNX AttributeProto.AttributeType values.
const (
	atUndefined = 0
	atFloat     = 1
	atInt       = 2
	atString    = 3
	atTensor    = 4
	atGraph     = 5
	atFloats    = 6
	atInts      = 7
	atStrings   = 8
	atTensors   = 9
	atGraphs    = 10
)

type wModel struct {
	IRVersion       int64
	Opsets          []wOpset
	Producer        string
	ProducerVersion string
	DocString       string
	Graph           *wGraph
}

type wOpset struct {
	Domain  string
	Version int64
}

type wGraph struct {
	Name    string
	Nodes   []*wNode
	Inits   []*wTensor
	Inputs  []*wValueInfo
	Outputs []*wValueInfo
	// SparseInits counts sparse initializers, which are not supported.
	SparseInits int
}

type wNode struct {
	Name    string
	OpType  string
	Domain  string
	Inputs  []string
	Outputs []string
	Attrs   []*wAttr
}

type wAttr struct {
	Name    string
	Type    int32
	F       float32
	I       int64
	S       []byte
	T       *wTensor
	Floats  []float32
	Ints    []int64
	Strings [][]byte
	// set records which value fields were present, to infer Type for legacy
	// exporters that leave it out.
	set map[protowire.Number]bool
}

type wTensor struct {
	Name     string
	Dims     []int64
	DataType int32
	Raw      []byte
	HasRaw   bool
	Floats   []float32
	Int32s   []int32
	Int64s   []int64
	Doubles  []float64
	Uint64s  []uint64
	Strings  int
	External map[string]string
	Location int32
	Segment  bool
}

type wValueInfo struct {
	Name     string
	HasType  bool
	ElemType int32
	HasShape bool
	Dims     []wDim
}

type wDim struct {
	Known bool
	Value int64
	Param string
}

// wireError is a malformed-protobuf error with the path of the message that
// failed, e.g. "graph.node[3].attribute[1]".
type wireError struct {
	path   string
	reason string
}

func (e *wireError) Error() string {
	if e.path == "" {
		return "malformed ONNX protobuf: " + e.reason
	}
	return fmt.Sprintf("malformed ONNX protobuf at %s: %s", e.path, e.reason)
}

// field is one decoded protobuf field.
type field struct {
	num protowire.Number
	typ protowire.Type
	u   uint64 // varint, fixed32, fixed64
	b   []byte // bytes
}

// forFields walks the fields of one message, calling fn for each.
func forFields(b []byte, path string, fn func(f field) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return &wireError{path, "bad field tag: " + protowire.ParseError(n).Error()}
		}
		b = b[n:]
		f := field{num: num, typ: typ}
		switch typ {
		case protowire.VarintType:
			f.u, n = protowire.ConsumeVarint(b)
		case protowire.Fixed32Type:
			var v uint32
			v, n = protowire.ConsumeFixed32(b)
			f.u = uint64(v)
		case protowire.Fixed64Type:
			f.u, n = protowire.ConsumeFixed64(b)
		case protowire.BytesType:
			f.b, n = protowire.ConsumeBytes(b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return &wireError{path, fmt.Sprintf("field %d: %v", num, protowire.ParseError(n))}
		}
		b = b[n:]
		if err := fn(f); err != nil {
			return err
		}
	}
	return nil
}

func wantType(f field, path string, t protowire.Type) error {
	if f.typ != t {
		return &wireError{path, fmt.Sprintf("field %d has wire type %d, want %d", f.num, f.typ, t)}
	}
	return nil
}

func str(f field, path, what string) (string, error) {
	if err := wantType(f, path, protowire.BytesType); err != nil {
		return "", err
	}
	if !utf8.Valid(f.b) {
		return "", &wireError{path, what + " is not valid UTF-8"}
	}
	return string(f.b), nil
}

func varint(f field, path string) (int64, error) {
	if err := wantType(f, path, protowire.VarintType); err != nil {
		return 0, err
	}
	return int64(f.u), nil
}

// packedVarints appends a repeated varint field, packed or not.
func packedVarints(f field, path string, dst []int64) ([]int64, error) {
	switch f.typ {
	case protowire.VarintType:
		return append(dst, int64(f.u)), nil
	case protowire.BytesType:
		b := f.b
		for len(b) > 0 {
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return nil, &wireError{path, "bad packed varint"}
			}
			dst = append(dst, int64(v))
			b = b[n:]
		}
		return dst, nil
	}
	return nil, &wireError{path, fmt.Sprintf("field %d has wire type %d, want varint", f.num, f.typ)}
}

func packedFixed32(f field, path string, dst []uint32) ([]uint32, error) {
	switch f.typ {
	case protowire.Fixed32Type:
		return append(dst, uint32(f.u)), nil
	case protowire.BytesType:
		if len(f.b)%4 != 0 {
			return nil, &wireError{path, "packed fixed32 field length is not a multiple of 4"}
		}
		for b := f.b; len(b) > 0; b = b[4:] {
			v, _ := protowire.ConsumeFixed32(b)
			dst = append(dst, v)
		}
		return dst, nil
	}
	return nil, &wireError{path, fmt.Sprintf("field %d has wire type %d, want fixed32", f.num, f.typ)}
}

func packedFixed64(f field, path string, dst []uint64) ([]uint64, error) {
	switch f.typ {
	case protowire.Fixed64Type:
		return append(dst, f.u), nil
	case protowire.BytesType:
		if len(f.b)%8 != 0 {
			return nil, &wireError{path, "packed fixed64 field length is not a multiple of 8"}
		}
		for b := f.b; len(b) > 0; b = b[8:] {
			v, _ := protowire.ConsumeFixed64(b)
			dst = append(dst, v)
		}
		return dst, nil
	}
	return nil, &wireError{path, fmt.Sprintf("field %d has wire type %d, want fixed64", f.num, f.typ)}
}

// parseModel decodes a ModelProto.
func parseModel(b []byte) (*wModel, error) {
	m := &wModel{}
	err := forFields(b, "model", func(f field) error {
		var err error
		switch f.num {
		case 1:
			m.IRVersion, err = varint(f, "model.ir_version")
		case 2:
			m.Producer, err = str(f, "model", "producer_name")
		case 3:
			m.ProducerVersion, err = str(f, "model", "producer_version")
		case 6:
			m.DocString, err = str(f, "model", "doc_string")
		case 7:
			if err = wantType(f, "model.graph", protowire.BytesType); err != nil {
				return err
			}
			m.Graph, err = parseGraph(f.b, "graph")
		case 8:
			if err = wantType(f, "model.opset_import", protowire.BytesType); err != nil {
				return err
			}
			var o wOpset
			err = forFields(f.b, "model.opset_import", func(g field) error {
				var err error
				switch g.num {
				case 1:
					o.Domain, err = str(g, "model.opset_import", "domain")
				case 2:
					o.Version, err = varint(g, "model.opset_import.version")
				}
				return err
			})
			m.Opsets = append(m.Opsets, o)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

func parseGraph(b []byte, path string) (*wGraph, error) {
	g := &wGraph{}
	err := forFields(b, path, func(f field) error {
		var err error
		switch f.num {
		case 1:
			p := fmt.Sprintf("%s.node[%d]", path, len(g.Nodes))
			if err = wantType(f, p, protowire.BytesType); err != nil {
				return err
			}
			var n *wNode
			n, err = parseNode(f.b, p)
			g.Nodes = append(g.Nodes, n)
		case 2:
			g.Name, err = str(f, path, "name")
		case 5:
			p := fmt.Sprintf("%s.initializer[%d]", path, len(g.Inits))
			if err = wantType(f, p, protowire.BytesType); err != nil {
				return err
			}
			var t *wTensor
			t, err = parseTensor(f.b, p)
			g.Inits = append(g.Inits, t)
		case 11, 12:
			p := fmt.Sprintf("%s.input[%d]", path, len(g.Inputs))
			if f.num == 12 {
				p = fmt.Sprintf("%s.output[%d]", path, len(g.Outputs))
			}
			if err = wantType(f, p, protowire.BytesType); err != nil {
				return err
			}
			var v *wValueInfo
			v, err = parseValueInfo(f.b, p)
			if f.num == 11 {
				g.Inputs = append(g.Inputs, v)
			} else {
				g.Outputs = append(g.Outputs, v)
			}
		case 15:
			g.SparseInits++
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return g, nil
}

func parseNode(b []byte, path string) (*wNode, error) {
	n := &wNode{}
	err := forFields(b, path, func(f field) error {
		var err error
		var s string
		switch f.num {
		case 1:
			s, err = str(f, path, "input name")
			n.Inputs = append(n.Inputs, s)
		case 2:
			s, err = str(f, path, "output name")
			n.Outputs = append(n.Outputs, s)
		case 3:
			n.Name, err = str(f, path, "name")
		case 4:
			n.OpType, err = str(f, path, "op_type")
		case 7:
			n.Domain, err = str(f, path, "domain")
		case 5:
			p := fmt.Sprintf("%s.attribute[%d]", path, len(n.Attrs))
			if err = wantType(f, p, protowire.BytesType); err != nil {
				return err
			}
			var a *wAttr
			a, err = parseAttr(f.b, p)
			n.Attrs = append(n.Attrs, a)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return n, nil
}

func parseAttr(b []byte, path string) (*wAttr, error) {
	a := &wAttr{set: map[protowire.Number]bool{}}
	err := forFields(b, path, func(f field) error {
		var err error
		a.set[f.num] = true
		switch f.num {
		case 1:
			a.Name, err = str(f, path, "name")
		case 20:
			var v int64
			v, err = varint(f, path+".type")
			a.Type = int32(v)
		case 2:
			if err = wantType(f, path+".f", protowire.Fixed32Type); err == nil {
				a.F = math.Float32frombits(uint32(f.u))
			}
		case 3:
			a.I, err = varint(f, path+".i")
		case 4:
			if err = wantType(f, path+".s", protowire.BytesType); err == nil {
				a.S = f.b
			}
		case 5:
			if err = wantType(f, path+".t", protowire.BytesType); err == nil {
				a.T, err = parseTensor(f.b, path+".t")
			}
		case 7:
			var u []uint32
			u, err = packedFixed32(f, path+".floats", nil)
			for _, v := range u {
				a.Floats = append(a.Floats, math.Float32frombits(v))
			}
		case 8:
			a.Ints, err = packedVarints(f, path+".ints", a.Ints)
		case 9:
			if err = wantType(f, path+".strings", protowire.BytesType); err == nil {
				a.Strings = append(a.Strings, f.b)
			}
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if a.Type == atUndefined {
		// Legacy exporters (IR 3) may leave the type out; infer it from the
		// value field that is present, as onnxruntime does.
		for _, c := range []struct {
			num protowire.Number
			typ int32
		}{{2, atFloat}, {3, atInt}, {4, atString}, {5, atTensor}, {6, atGraph}, {7, atFloats}, {8, atInts}, {9, atStrings}, {10, atTensors}, {11, atGraphs}} {
			if a.set[c.num] {
				a.Type = c.typ
				break
			}
		}
	}
	return a, nil
}

func parseTensor(b []byte, path string) (*wTensor, error) {
	t := &wTensor{}
	err := forFields(b, path, func(f field) error {
		var err error
		switch f.num {
		case 1:
			t.Dims, err = packedVarints(f, path+".dims", t.Dims)
		case 2:
			var v int64
			v, err = varint(f, path+".data_type")
			t.DataType = int32(v)
		case 3:
			t.Segment = true
		case 4:
			var u []uint32
			u, err = packedFixed32(f, path+".float_data", nil)
			for _, v := range u {
				t.Floats = append(t.Floats, math.Float32frombits(v))
			}
		case 5:
			var v []int64
			v, err = packedVarints(f, path+".int32_data", nil)
			for _, x := range v {
				t.Int32s = append(t.Int32s, int32(x))
			}
		case 6:
			t.Strings++
		case 7:
			t.Int64s, err = packedVarints(f, path+".int64_data", t.Int64s)
		case 8:
			t.Name, err = str(f, path, "name")
		case 9:
			if err = wantType(f, path+".raw_data", protowire.BytesType); err == nil {
				t.Raw, t.HasRaw = f.b, true
			}
		case 10:
			var u []uint64
			u, err = packedFixed64(f, path+".double_data", nil)
			for _, v := range u {
				t.Doubles = append(t.Doubles, math.Float64frombits(v))
			}
		case 11:
			var v []int64
			v, err = packedVarints(f, path+".uint64_data", nil)
			for _, x := range v {
				t.Uint64s = append(t.Uint64s, uint64(x))
			}
		case 13:
			if err = wantType(f, path+".external_data", protowire.BytesType); err != nil {
				return err
			}
			var k, v string
			err = forFields(f.b, path+".external_data", func(g field) error {
				var err error
				switch g.num {
				case 1:
					k, err = str(g, path, "external_data key")
				case 2:
					v, err = str(g, path, "external_data value")
				}
				return err
			})
			if t.External == nil {
				t.External = map[string]string{}
			}
			t.External[k] = v
		case 14:
			var v int64
			v, err = varint(f, path+".data_location")
			t.Location = int32(v)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

func parseValueInfo(b []byte, path string) (*wValueInfo, error) {
	v := &wValueInfo{}
	err := forFields(b, path, func(f field) error {
		var err error
		switch f.num {
		case 1:
			v.Name, err = str(f, path, "name")
		case 2:
			if err = wantType(f, path+".type", protowire.BytesType); err != nil {
				return err
			}
			err = forFields(f.b, path+".type", func(g field) error {
				if g.num != 1 { // only tensor_type
					return nil
				}
				if err := wantType(g, path+".type.tensor_type", protowire.BytesType); err != nil {
					return err
				}
				v.HasType = true
				return forFields(g.b, path+".type.tensor_type", func(h field) error {
					switch h.num {
					case 1:
						x, err := varint(h, path+".elem_type")
						v.ElemType = int32(x)
						return err
					case 2:
						if err := wantType(h, path+".shape", protowire.BytesType); err != nil {
							return err
						}
						v.HasShape = true
						return forFields(h.b, path+".shape", func(d field) error {
							if d.num != 1 {
								return nil
							}
							if err := wantType(d, path+".shape.dim", protowire.BytesType); err != nil {
								return err
							}
							var dim wDim
							err := forFields(d.b, path+".shape.dim", func(e field) error {
								var err error
								switch e.num {
								case 1:
									dim.Value, err = varint(e, path+".dim_value")
									dim.Known = true
								case 2:
									dim.Param, err = str(e, path, "dim_param")
								}
								return err
							})
							v.Dims = append(v.Dims, dim)
							return err
						})
					}
					return nil
				})
			})
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return v, nil
}

// maxElems caps the elements of any one tensor, on top of the rule that a
// tensor's declared size must match the bytes actually present.
const maxElems = 1 << 31

// numel validates dims and returns their product.
func (t *wTensor) numel() (int, error) {
	n := 1
	for _, d := range t.Dims {
		if d < 0 {
			return 0, fmt.Errorf("negative dimension %d in %v", d, t.Dims)
		}
		if d > maxElems || (d > 0 && n > maxElems/int(d)) {
			return 0, fmt.Errorf("dimensions %v ask for more than %d elements", t.Dims, maxElems)
		}
		n *= int(d)
	}
	return n, nil
}

// errNoData marks a tensor that declares elements but stores none.
var errNoData = errors.New("tensor has no data")
