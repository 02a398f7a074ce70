package snnrt

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"

	"google.golang.org/protobuf/encoding/protowire"
)

// maxFileSize caps what Read loads into memory.
const maxFileSize = 2 << 30

// Read loads and decodes a *.snn.onnx file.
func Read(path string) (*Network, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read SNN file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(b) > maxFileSize {
		return nil, fmt.Errorf("read %s: larger than %d bytes", path, maxFileSize)
	}
	net, err := Decode(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return net, nil
}

// ErrNotSNN matches (errors.Is) the errors of Read and Decode for bytes that
// are not this format at all, ONNX this decoder cannot parse or ONNX without
// an SNN semantics version, as against an SNN file they refuse (another
// semantics version, a node they cannot take): a tool that takes either kind
// of model hands the first to the importer and reports the second.
var ErrNotSNN = errors.New("not an SNN file")

// notSNN marks an error as ErrNotSNN and keeps its message.
type notSNN struct{ error }

func (e notSNN) Is(target error) bool { return target == ErrNotSNN }
func (e notSNN) Unwrap() error        { return e.error }

// Decode parses SNN file bytes (the format of Encode). It refuses files of
// another semantics version, unknown operators and malformed protobuf with
// an error naming the node and the reason; it never panics and allocates at
// most a small multiple of len(b).
func Decode(b []byte) (*Network, error) {
	m, err := parseModel(b)
	if err != nil {
		return nil, notSNN{fmt.Errorf("malformed ONNX model: %w", err)}
	}
	meta, err := parseMeta(m.props)
	if err != nil {
		return nil, err
	}
	if v, ok := m.opsets[DomainSNN]; ok && v != snnOpset {
		return nil, fmt.Errorf("opset %s version %d is not supported (want %d)", DomainSNN, v, snnOpset)
	}
	g := m.graph
	if g == nil {
		return nil, fmt.Errorf("model has no graph")
	}
	net, err := g.network()
	if err != nil {
		return nil, err
	}
	net.Meta = meta
	if err := net.InferShapes(); err != nil {
		return nil, err
	}
	return net, nil
}

type pModel struct {
	opsets map[string]int64
	props  [][2]string
	graph  *pGraph
}

type pGraph struct {
	name    string
	nodes   []*pNode
	inits   map[string]*pTensor
	inputs  []pValue
	outputs []pValue
	shapes  map[string][]int64
	scaled  map[string]scaledInput
}

// scaledInput is an Add input behind a Mul by a scalar.
type scaledInput struct {
	x string
	s float32
}

func firstOr(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

type pValue struct {
	name  string
	shape []int64 // -1 for a symbolic dimension
}

type pNode struct {
	name, op, domain string
	ins, outs        []string
	attrs            map[string]*pAttr
}

type pAttr struct {
	ty     int64
	f      float32
	i      int64
	s      string
	ints   []int64
	floats []float32
}

type pTensor struct {
	name     string
	dims     []int64
	dtype    int64
	raw      []byte
	floats   []float32
	int64s   []int64
	external bool
}

// walk calls f for every field of a message.
func walk(b []byte, f func(num protowire.Number, typ protowire.Type, v uint64, data []byte) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		var v uint64
		var data []byte
		switch typ {
		case protowire.VarintType:
			v, n = protowire.ConsumeVarint(b)
		case protowire.Fixed32Type:
			var x uint32
			x, n = protowire.ConsumeFixed32(b)
			v = uint64(x)
		case protowire.Fixed64Type:
			v, n = protowire.ConsumeFixed64(b)
		case protowire.BytesType:
			data, n = protowire.ConsumeBytes(b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return fmt.Errorf("field %d: %w", num, protowire.ParseError(n))
		}
		b = b[n:]
		if typ == protowire.StartGroupType {
			continue
		}
		if err := f(num, typ, v, data); err != nil {
			return err
		}
	}
	return nil
}

var errWireType = errors.New("unexpected wire type")

func wantType(num protowire.Number, got, want protowire.Type) error {
	if got != want {
		return fmt.Errorf("field %d: %w %d (want %d)", num, errWireType, got, want)
	}
	return nil
}

// ints reads a repeated int64 field, packed or not.
func appendInts(dst []int64, typ protowire.Type, v uint64, data []byte) ([]int64, error) {
	if typ == protowire.VarintType {
		return append(dst, int64(v)), nil
	}
	if typ != protowire.BytesType {
		return dst, errWireType
	}
	for len(data) > 0 {
		x, n := protowire.ConsumeVarint(data)
		if n < 0 {
			return dst, protowire.ParseError(n)
		}
		dst = append(dst, int64(x))
		data = data[n:]
	}
	return dst, nil
}

func appendFloats(dst []float32, typ protowire.Type, v uint64, data []byte) ([]float32, error) {
	if typ == protowire.Fixed32Type {
		return append(dst, math.Float32frombits(uint32(v))), nil
	}
	if typ != protowire.BytesType || len(data)%4 != 0 {
		return dst, errWireType
	}
	for i := 0; i < len(data); i += 4 {
		dst = append(dst, math.Float32frombits(binary.LittleEndian.Uint32(data[i:])))
	}
	return dst, nil
}

func parseModel(b []byte) (*pModel, error) {
	m := &pModel{opsets: map[string]int64{}}
	err := walk(b, func(num protowire.Number, typ protowire.Type, v uint64, data []byte) error {
		switch num {
		case fModelGraph:
			if err := wantType(num, typ, protowire.BytesType); err != nil {
				return err
			}
			if m.graph != nil {
				return fmt.Errorf("two graphs")
			}
			g, err := parseGraph(data)
			if err != nil {
				return fmt.Errorf("graph: %w", err)
			}
			m.graph = g
		case fModelOpsetImport:
			if err := wantType(num, typ, protowire.BytesType); err != nil {
				return err
			}
			var dom string
			var ver int64
			if err := walk(data, func(num protowire.Number, typ protowire.Type, v uint64, data []byte) error {
				switch num {
				case fOpsetDomain:
					dom = string(data)
					return wantType(num, typ, protowire.BytesType)
				case fOpsetVersion:
					ver = int64(v)
					return wantType(num, typ, protowire.VarintType)
				}
				return nil
			}); err != nil {
				return fmt.Errorf("opset_import: %w", err)
			}
			if dom == "ai.onnx" {
				dom = ""
			}
			m.opsets[dom] = ver
		case fModelMetadataProps:
			if err := wantType(num, typ, protowire.BytesType); err != nil {
				return err
			}
			var kv [2]string
			if err := walk(data, func(num protowire.Number, typ protowire.Type, v uint64, data []byte) error {
				if num == fKVKey || num == fKVValue {
					kv[num-1] = string(data)
					return wantType(num, typ, protowire.BytesType)
				}
				return nil
			}); err != nil {
				return fmt.Errorf("metadata_props: %w", err)
			}
			m.props = append(m.props, kv)
		}
		return nil
	})
	return m, err
}

func parseGraph(b []byte) (*pGraph, error) {
	g := &pGraph{inits: map[string]*pTensor{}, shapes: map[string][]int64{}}
	err := walk(b, func(num protowire.Number, typ protowire.Type, v uint64, data []byte) error {
		switch num {
		case fGraphName:
			g.name = string(data)
			return wantType(num, typ, protowire.BytesType)
		case fGraphNode:
			if err := wantType(num, typ, protowire.BytesType); err != nil {
				return err
			}
			n, err := parseNode(data)
			if err != nil {
				return fmt.Errorf("node %d: %w", len(g.nodes), err)
			}
			g.nodes = append(g.nodes, n)
		case fGraphInitializer:
			if err := wantType(num, typ, protowire.BytesType); err != nil {
				return err
			}
			t, err := parseTensor(data)
			if err != nil {
				return fmt.Errorf("initializer %d: %w", len(g.inits), err)
			}
			if _, dup := g.inits[t.name]; dup {
				return fmt.Errorf("initializer %q defined twice", t.name)
			}
			g.inits[t.name] = t
		case fGraphInput, fGraphOutput, fGraphValueInfo:
			if err := wantType(num, typ, protowire.BytesType); err != nil {
				return err
			}
			pv, err := parseValueInfo(data)
			if err != nil {
				return fmt.Errorf("value_info: %w", err)
			}
			switch num {
			case fGraphInput:
				g.inputs = append(g.inputs, pv)
			case fGraphOutput:
				g.outputs = append(g.outputs, pv)
			}
			if pv.shape != nil {
				g.shapes[pv.name] = pv.shape
			}
		}
		return nil
	})
	return g, err
}

func parseNode(b []byte) (*pNode, error) {
	n := &pNode{attrs: map[string]*pAttr{}}
	err := walk(b, func(num protowire.Number, typ protowire.Type, v uint64, data []byte) error {
		switch num {
		case fNodeInput, fNodeOutput, fNodeName, fNodeOpType, fNodeDomain:
			if err := wantType(num, typ, protowire.BytesType); err != nil {
				return err
			}
			s := string(data)
			switch num {
			case fNodeInput:
				n.ins = append(n.ins, s)
			case fNodeOutput:
				n.outs = append(n.outs, s)
			case fNodeName:
				n.name = s
			case fNodeOpType:
				n.op = s
			case fNodeDomain:
				n.domain = s
			}
		case fNodeAttribute:
			if err := wantType(num, typ, protowire.BytesType); err != nil {
				return err
			}
			name, a, err := parseAttr(data)
			if err != nil {
				return fmt.Errorf("attribute %q: %w", name, err)
			}
			n.attrs[name] = a
		}
		return nil
	})
	return n, err
}

func parseAttr(b []byte) (string, *pAttr, error) {
	a := &pAttr{}
	var name string
	err := walk(b, func(num protowire.Number, typ protowire.Type, v uint64, data []byte) error {
		var err error
		switch num {
		case fAttrName:
			name = string(data)
			return wantType(num, typ, protowire.BytesType)
		case fAttrType:
			a.ty = int64(v)
			return wantType(num, typ, protowire.VarintType)
		case fAttrF:
			a.f = math.Float32frombits(uint32(v))
			return wantType(num, typ, protowire.Fixed32Type)
		case fAttrI:
			a.i = int64(v)
			return wantType(num, typ, protowire.VarintType)
		case fAttrS:
			a.s = string(data)
			return wantType(num, typ, protowire.BytesType)
		case fAttrInts:
			a.ints, err = appendInts(a.ints, typ, v, data)
		case fAttrFloats:
			a.floats, err = appendFloats(a.floats, typ, v, data)
		}
		return err
	})
	return name, a, err
}

func parseTensor(b []byte) (*pTensor, error) {
	t := &pTensor{}
	err := walk(b, func(num protowire.Number, typ protowire.Type, v uint64, data []byte) error {
		var err error
		switch num {
		case fTensorDims:
			t.dims, err = appendInts(t.dims, typ, v, data)
		case fTensorDataType:
			t.dtype = int64(v)
			return wantType(num, typ, protowire.VarintType)
		case fTensorName:
			t.name = string(data)
			return wantType(num, typ, protowire.BytesType)
		case fTensorRawData:
			t.raw = data
			return wantType(num, typ, protowire.BytesType)
		case fTensorFloatData:
			t.floats, err = appendFloats(t.floats, typ, v, data)
		case fTensorInt64Data:
			t.int64s, err = appendInts(t.int64s, typ, v, data)
		case fTensorDataLocation:
			t.external = v == 1
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if t.external {
		return nil, fmt.Errorf("tensor %q: external data is not supported in SNN files", t.name)
	}
	return t, nil
}

func parseValueInfo(b []byte) (pValue, error) {
	var pv pValue
	err := walk(b, func(num protowire.Number, typ protowire.Type, v uint64, data []byte) error {
		switch num {
		case fValueName:
			pv.name = string(data)
			return wantType(num, typ, protowire.BytesType)
		case fValueType:
			if err := wantType(num, typ, protowire.BytesType); err != nil {
				return err
			}
			return walk(data, func(num protowire.Number, typ protowire.Type, v uint64, data []byte) error {
				if num != fTypeTensor {
					return nil
				}
				if err := wantType(num, typ, protowire.BytesType); err != nil {
					return err
				}
				return walk(data, func(num protowire.Number, typ protowire.Type, v uint64, data []byte) error {
					if num != fTTShape {
						return nil
					}
					if err := wantType(num, typ, protowire.BytesType); err != nil {
						return err
					}
					pv.shape = []int64{}
					return walk(data, func(num protowire.Number, typ protowire.Type, v uint64, data []byte) error {
						if num != fShapeDim {
							return nil
						}
						if err := wantType(num, typ, protowire.BytesType); err != nil {
							return err
						}
						d := int64(-1)
						err := walk(data, func(num protowire.Number, typ protowire.Type, v uint64, data []byte) error {
							if num == fDimValue {
								d = int64(v)
								return wantType(num, typ, protowire.VarintType)
							}
							return nil
						})
						pv.shape = append(pv.shape, d)
						return err
					})
				})
			})
		}
		return nil
	})
	return pv, err
}

// floats32 returns a float tensor's values and shape, checking that the data
// matches the dims.
func (t *pTensor) float32s() ([]float32, []int, error) {
	if t.dtype != dtFloat {
		return nil, nil, fmt.Errorf("initializer %q: data type %d, want float32 (1)", t.name, t.dtype)
	}
	shape, n, err := t.shape()
	if err != nil {
		return nil, nil, err
	}
	switch {
	case t.raw != nil:
		if len(t.raw) != 4*n {
			return nil, nil, fmt.Errorf("initializer %q: %d raw bytes for %d floats", t.name, len(t.raw), n)
		}
		d := make([]float32, n)
		for i := range d {
			d[i] = math.Float32frombits(binary.LittleEndian.Uint32(t.raw[4*i:]))
		}
		return d, shape, nil
	case len(t.floats) == n:
		return t.floats, shape, nil
	}
	return nil, nil, fmt.Errorf("initializer %q: %d values for shape %v", t.name, len(t.floats), shape)
}

func (t *pTensor) int64Values() ([]int64, error) {
	if t.dtype != dtInt64 {
		return nil, fmt.Errorf("initializer %q: data type %d, want int64 (7)", t.name, t.dtype)
	}
	_, n, err := t.shape()
	if err != nil {
		return nil, err
	}
	if t.raw != nil {
		if len(t.raw) != 8*n {
			return nil, fmt.Errorf("initializer %q: %d raw bytes for %d int64", t.name, len(t.raw), n)
		}
		d := make([]int64, n)
		for i := range d {
			d[i] = int64(binary.LittleEndian.Uint64(t.raw[8*i:]))
		}
		return d, nil
	}
	if len(t.int64s) != n {
		return nil, fmt.Errorf("initializer %q: %d values for %d elements", t.name, len(t.int64s), n)
	}
	return t.int64s, nil
}

func (t *pTensor) shape() ([]int, int, error) {
	if len(t.dims) > 8 {
		return nil, 0, fmt.Errorf("initializer %q: rank %d", t.name, len(t.dims))
	}
	n := 1
	var shape []int
	for _, d := range t.dims {
		if d < 0 || d > maxElems {
			return nil, 0, fmt.Errorf("initializer %q: bad dims %v", t.name, t.dims)
		}
		n *= int(d)
		if n > maxElems {
			return nil, 0, fmt.Errorf("initializer %q: dims %v too large", t.name, t.dims)
		}
		shape = append(shape, int(d))
	}
	return shape, n, nil
}

func (a *pAttr) intList(n *pNode, name string, want int) ([]int, error) {
	if len(a.ints) != want {
		return nil, fmt.Errorf("node %q (%s): attribute %s has %d entries, want %d", n.name, n.op, name, len(a.ints), want)
	}
	out := make([]int, len(a.ints))
	for i, v := range a.ints {
		if v < -(1<<20) || v > 1<<20 {
			return nil, fmt.Errorf("node %q (%s): attribute %s = %v out of range", n.name, n.op, name, a.ints)
		}
		out[i] = int(v)
	}
	return out, nil
}

func parseMeta(props [][2]string) (Meta, error) {
	var m Meta
	// Whether this is an SNN file at all comes first: another model's
	// metadata is not ours to judge.
	if !slices.ContainsFunc(props, func(kv [2]string) bool { return kv[0] == KeySemanticsVersion }) {
		return m, notSNN{fmt.Errorf("no %s metadata: not an SNN file (convert the ONNX model first)", KeySemanticsVersion)}
	}
	seen := map[string]bool{}
	for _, kv := range props {
		k, v := kv[0], kv[1]
		if seen[k] {
			return m, fmt.Errorf("metadata key %q appears twice", k)
		}
		seen[k] = true
		var err error
		switch k {
		case KeySemanticsVersion:
			m.SemanticsVersion, err = strconv.Atoi(v)
		case KeyEncoding:
			var e Encoding
			e, err = ParseEncoding(v)
			m.Encoding = e
		case KeyTimestepsHint:
			m.TimestepsHint, err = strconv.Atoi(v)
		case KeySourceSHA256:
			m.SourceSHA256 = v
		case KeySourceName:
			m.SourceName = v
		case KeyNormalization:
			err = json.Unmarshal([]byte(v), &m.Normalization)
		case KeyStrippedHead:
			err = json.Unmarshal([]byte(v), &m.StrippedHead)
			if len(m.StrippedHead) == 0 {
				m.StrippedHead = nil
			}
		default:
			if m.Extra == nil {
				m.Extra = map[string]string{}
			}
			m.Extra[k] = v
		}
		if err != nil {
			return m, fmt.Errorf("metadata %s = %q: %w", k, v, err)
		}
	}
	if m.SemanticsVersion != SemanticsVersion {
		return m, fmt.Errorf("SNN semantics version %d is not supported by this runtime (it implements version %d)", m.SemanticsVersion, SemanticsVersion)
	}
	return m, nil
}

func (g *pGraph) network() (*Network, error) {
	net := &Network{Name: g.name}
	var ins []pValue
	for _, v := range g.inputs {
		if _, isInit := g.inits[v.name]; !isInit {
			ins = append(ins, v)
		}
	}
	if len(ins) != 1 || len(g.outputs) != 1 {
		return nil, fmt.Errorf("graph %q has %d inputs and %d outputs, want 1 and 1", g.name, len(ins), len(g.outputs))
	}
	net.Input, net.Output = ins[0].name, g.outputs[0].name
	if len(ins[0].shape) < 2 {
		return nil, fmt.Errorf("graph input %q: shape %v, want [N, …]", net.Input, ins[0].shape)
	}
	for _, d := range ins[0].shape[1:] {
		if d <= 0 || d > maxElems {
			return nil, fmt.Errorf("graph input %q: shape %v must be static after the batch dimension", net.Input, ins[0].shape)
		}
		net.InputShape = append(net.InputShape, int(d))
	}
	consumers := map[string][]*pNode{}
	for _, n := range g.nodes {
		for _, in := range n.ins {
			consumers[in] = append(consumers[in], n)
		}
	}
	// Scale Muls are found before translation: they precede their Add.
	producer := map[string]*pNode{}
	for _, n := range g.nodes {
		for _, o := range n.outs {
			producer[o] = n
		}
	}
	absorbed := map[*pNode]bool{}
	g.scaled = map[string]scaledInput{}
	for _, n := range g.nodes {
		if p := producer[firstOr(n.ins)]; n.op == "Mul" && p != nil && p.op == "AveragePool" {
			continue
		}
		if x, s, ok := g.scaleMul(n, consumers); ok {
			absorbed[n] = true
			g.scaled[n.outs[0]] = scaledInput{x, s}
		}
	}
	for _, n := range g.nodes {
		if absorbed[n] {
			continue
		}
		sn, err := g.translate(n, consumers, absorbed)
		if err != nil {
			return nil, err
		}
		if sn == nil {
			continue
		}
		if s, ok := g.shapes[sn.Output]; ok && len(s) >= 1 && len(sn.Shape) == 0 {
			for _, d := range s[1:] {
				if d <= 0 || d > maxElems {
					return nil, fmt.Errorf("node %q (%s): value_info of %q has shape %v", n.name, n.op, sn.Output, s)
				}
				sn.Shape = append(sn.Shape, int(d))
			}
		}
		net.Nodes = append(net.Nodes, sn)
	}
	return net, nil
}

// scalarInit returns the value of a one-element float initializer.
func (g *pGraph) scalarInit(name string) (float32, bool) {
	t, ok := g.inits[name]
	if !ok {
		return 0, false
	}
	d, _, err := t.float32s()
	if err != nil || len(d) != 1 {
		return 0, false
	}
	return d[0], true
}

// scaleMul recognises the Mul(x, scalar) that scales one input of an Add.
func (g *pGraph) scaleMul(n *pNode, consumers map[string][]*pNode) (string, float32, bool) {
	if n.op != "Mul" || n.domain != "" || len(n.ins) != 2 || len(n.outs) != 1 {
		return "", 0, false
	}
	cs := consumers[n.outs[0]]
	if len(cs) != 1 || (cs[0].op != "Add" && cs[0].op != "Sum") {
		return "", 0, false
	}
	s, ok := g.scalarInit(n.ins[1])
	return n.ins[0], s, ok
}

func (g *pGraph) tensor(n *pNode, name, what string) (*Tensor, error) {
	t, ok := g.inits[name]
	if !ok {
		return nil, fmt.Errorf("node %q (%s): %s %q is not an initializer", n.name, n.op, what, name)
	}
	d, shape, err := t.float32s()
	if err != nil {
		return nil, fmt.Errorf("node %q (%s): %w", n.name, n.op, err)
	}
	return &Tensor{Shape: shape, Data: d}, nil
}

// poolAttrs reads kernel_shape, strides and pads.
func poolAttrs(n *pNode, sn *Node) error {
	k, ok := n.attrs["kernel_shape"]
	if !ok {
		return fmt.Errorf("node %q (%s): no kernel_shape", n.name, n.op)
	}
	var err error
	if sn.Kernel, err = k.intList(n, "kernel_shape", 2); err != nil {
		return err
	}
	if a, ok := n.attrs["strides"]; ok {
		if sn.Strides, err = a.intList(n, "strides", 2); err != nil {
			return err
		}
	}
	if a, ok := n.attrs["pads"]; ok {
		if sn.Pads, err = a.intList(n, "pads", 4); err != nil {
			return err
		}
	}
	if a, ok := n.attrs["auto_pad"]; ok && a.s != "" && a.s != "NOTSET" {
		return fmt.Errorf("node %q (%s): auto_pad %q is not supported; write explicit pads", n.name, n.op, a.s)
	}
	if a, ok := n.attrs["ceil_mode"]; ok && a.i != 0 {
		return fmt.Errorf("node %q (%s): ceil_mode is not supported", n.name, n.op)
	}
	return nil
}

func (g *pGraph) translate(n *pNode, consumers map[string][]*pNode, absorbed map[*pNode]bool) (*Node, error) {
	if len(n.outs) != 1 {
		return nil, fmt.Errorf("node %q (%s): %d outputs, want 1", n.name, n.op, len(n.outs))
	}
	if len(n.ins) == 0 {
		return nil, fmt.Errorf("node %q (%s): no inputs", n.name, n.op)
	}
	sn := &Node{Name: n.name, Inputs: []string{n.ins[0]}, Output: n.outs[0]}
	nargs := func(lo, hi int) error {
		if len(n.ins) < lo || len(n.ins) > hi {
			return fmt.Errorf("node %q (%s): %d inputs, want %d to %d", n.name, n.op, len(n.ins), lo, hi)
		}
		return nil
	}
	var err error
	key := n.op
	if n.domain == DomainSNN {
		key = DomainSNN + "." + n.op
	} else if n.domain != "" && n.domain != "ai.onnx" {
		return nil, fmt.Errorf("node %q: operator %s of domain %q is not part of an SNN file", n.name, n.op, n.domain)
	}
	switch key {
	case "Conv":
		sn.Op = OpConv
		if err := nargs(2, 3); err != nil {
			return nil, err
		}
		if sn.W, err = g.tensor(n, n.ins[1], "weight"); err != nil {
			return nil, err
		}
		if len(n.ins) == 3 && n.ins[2] != "" {
			if sn.B, err = g.tensor(n, n.ins[2], "bias"); err != nil {
				return nil, err
			}
		}
		if a, ok := n.attrs["kernel_shape"]; ok {
			if sn.Kernel, err = a.intList(n, "kernel_shape", 2); err != nil {
				return nil, err
			}
		}
		if a, ok := n.attrs["dilations"]; ok {
			if sn.Dilations, err = a.intList(n, "dilations", 2); err != nil {
				return nil, err
			}
		}
		sn.Group = 1
		if a, ok := n.attrs["group"]; ok {
			if a.i < 1 || a.i > 1<<20 {
				return nil, fmt.Errorf("node %q (Conv): group %d", n.name, a.i)
			}
			sn.Group = int(a.i)
		}
		if a, ok := n.attrs["strides"]; ok {
			if sn.Strides, err = a.intList(n, "strides", 2); err != nil {
				return nil, err
			}
		}
		if a, ok := n.attrs["pads"]; ok {
			if sn.Pads, err = a.intList(n, "pads", 4); err != nil {
				return nil, err
			}
		}
		if a, ok := n.attrs["auto_pad"]; ok && a.s != "" && a.s != "NOTSET" {
			return nil, fmt.Errorf("node %q (Conv): auto_pad %q is not supported", n.name, a.s)
		}
	case "Gemm":
		sn.Op = OpDense
		if err := nargs(2, 3); err != nil {
			return nil, err
		}
		if a := n.attrs["transB"]; a == nil || a.i != 1 {
			return nil, fmt.Errorf("node %q (Gemm): SNN files store dense weights [Out, In] with transB=1", n.name)
		}
		if a := n.attrs["transA"]; a != nil && a.i != 0 {
			return nil, fmt.Errorf("node %q (Gemm): transA is not supported", n.name)
		}
		for _, k := range []string{"alpha", "beta"} {
			if a := n.attrs[k]; a != nil && a.f != 1 {
				return nil, fmt.Errorf("node %q (Gemm): %s = %v, want 1", n.name, k, a.f)
			}
		}
		if sn.W, err = g.tensor(n, n.ins[1], "weight"); err != nil {
			return nil, err
		}
		if len(n.ins) == 3 && n.ins[2] != "" {
			if sn.B, err = g.tensor(n, n.ins[2], "bias"); err != nil {
				return nil, err
			}
		}
	case "AveragePool":
		sn.Op = OpSumPool
		if err := nargs(1, 1); err != nil {
			return nil, err
		}
		if err := poolAttrs(n, sn); err != nil {
			return nil, err
		}
		if a := n.attrs["count_include_pad"]; (a == nil || a.i != 1) && hasPads(sn.Pads) {
			return nil, fmt.Errorf("node %q (AveragePool): a sum pool with pads needs count_include_pad=1", n.name)
		}
		cs := consumers[n.outs[0]]
		var k float32
		ok := len(cs) == 1 && cs[0].op == "Mul" && cs[0].domain == "" && len(cs[0].ins) == 2 && cs[0].ins[0] == n.outs[0] && len(cs[0].outs) == 1
		if ok {
			k, ok = g.scalarInit(cs[0].ins[1])
		}
		if !ok || k != float32(sn.Kernel[0]*sn.Kernel[1]) {
			return nil, fmt.Errorf("node %q (AveragePool): an SNN file holds sum pools only, as AveragePool followed by Mul by the window size", n.name)
		}
		absorbed[cs[0]] = true
		sn.Output = cs[0].outs[0]
	case "Mul":
		return nil, fmt.Errorf("node %q (Mul): only the scale of a sum pool or of an Add input may be a Mul", n.name)
	case "Flatten":
		sn.Op = OpFlatten
		if err := nargs(1, 1); err != nil {
			return nil, err
		}
		if a := n.attrs["axis"]; a != nil && a.i != 1 {
			return nil, fmt.Errorf("node %q (Flatten): axis %d, want 1", n.name, a.i)
		}
	case "Reshape":
		sn.Op = OpReshape
		if err := nargs(2, 2); err != nil {
			return nil, err
		}
		t, ok := g.inits[n.ins[1]]
		if !ok {
			return nil, fmt.Errorf("node %q (Reshape): shape %q is not an initializer", n.name, n.ins[1])
		}
		dims, err := t.int64Values()
		if err != nil {
			return nil, fmt.Errorf("node %q (Reshape): %w", n.name, err)
		}
		if len(dims) < 2 || (dims[0] != -1 && dims[0] != 0) {
			return nil, fmt.Errorf("node %q (Reshape): shape %v must keep the batch dimension first", n.name, dims)
		}
		for _, d := range dims[1:] {
			if d <= 0 || d > maxElems {
				return nil, fmt.Errorf("node %q (Reshape): shape %v must be static", n.name, dims)
			}
			sn.Shape = append(sn.Shape, int(d))
		}
	case "Add", "Sum":
		sn.Op = OpAdd
		if err := nargs(2, 1<<16); err != nil {
			return nil, err
		}
		if n.op == "Add" && len(n.ins) != 2 {
			return nil, fmt.Errorf("node %q (Add): %d inputs, want 2", n.name, len(n.ins))
		}
		sn.Inputs = nil
		scaled := false
		scales := make([]float32, len(n.ins))
		for i, in := range n.ins {
			scales[i] = 1
			if sc, ok := g.scaled[in]; ok {
				in, scales[i], scaled = sc.x, sc.s, true
			}
			sn.Inputs = append(sn.Inputs, in)
		}
		if scaled {
			sn.Scales = scales
		}
	case "Concat":
		sn.Op = OpConcat
		a := n.attrs["axis"]
		if a == nil || a.i < 1 || a.i > 8 {
			return nil, fmt.Errorf("node %q (Concat): axis must be a per-sample axis (1 or more)", n.name)
		}
		sn.Axis = int(a.i) - 1
		sn.Inputs = append([]string(nil), n.ins...)
	case DomainSNN + ".Affine":
		sn.Op = OpAffine
		if err := nargs(2, 3); err != nil {
			return nil, err
		}
		if sn.W, err = g.tensor(n, n.ins[1], "scale"); err != nil {
			return nil, err
		}
		if len(n.ins) == 3 && n.ins[2] != "" {
			if sn.B, err = g.tensor(n, n.ins[2], "bias"); err != nil {
				return nil, err
			}
		}
	case DomainSNN + ".IF":
		sn.Op = OpIF
		if err := nargs(2, 2); err != nil {
			return nil, err
		}
		th, err := g.tensor(n, n.ins[1], "threshold")
		if err != nil {
			return nil, err
		}
		sn.Threshold = th.Data
		r := n.attrs["reset"]
		if r == nil {
			return nil, fmt.Errorf("node %q (IF): no reset attribute", n.name)
		}
		if sn.Reset, err = ParseResetMode(r.s); err != nil {
			return nil, fmt.Errorf("node %q (IF): %w", n.name, err)
		}
		v := n.attrs["v_init"]
		if v == nil {
			return nil, fmt.Errorf("node %q (IF): no v_init attribute", n.name)
		}
		sn.VInit = v.f
	case DomainSNN + ".SpikeMaxPool":
		sn.Op = OpSpikeMaxPool
		if err := nargs(1, 1); err != nil {
			return nil, err
		}
		if err := poolAttrs(n, sn); err != nil {
			return nil, err
		}
	default:
		if n.domain == DomainSNN {
			return nil, fmt.Errorf("node %q: unknown %s operator %s", n.name, DomainSNN, n.op)
		}
		return nil, fmt.Errorf("node %q: ONNX operator %s is not part of an SNN file", n.name, n.op)
	}
	return sn, nil
}

func hasPads(p []int) bool {
	for _, v := range p {
		if v != 0 {
			return true
		}
	}
	return false
}
