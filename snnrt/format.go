package snnrt

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"google.golang.org/protobuf/encoding/protowire"
)

// The SNN file (DESIGN §3) is an ONNX ModelProto, written and read here with
// protowire. Synaptic operators are standard ONNX (opset 13) so that Netron
// and onnx.checker open the file; spiking operators live in domain ai.snn v1:
//
//	Conv                 Conv (W, B initializers)
//	Dense                Gemm(x, W, B, transB=1)
//	SumPool              AveragePool(count_include_pad=1) → Mul(k_h·k_w): an
//	                     average that counts pads as zeros, times the window
//	                     size, is exactly the sum, so standard ONNX tools see
//	                     the same function the runtime computes
//	Flatten              Flatten(axis=1)
//	Reshape              Reshape(x, [-1, shape…])
//	Add                  Add (two inputs) or Sum, each scaled input behind a
//	                     Mul by a scalar initializer
//	Concat               Concat(axis = Axis+1)
//	Affine               ai.snn Affine(x, scale[C], bias[C]): y = scale·x + bias
//	                     per channel (axis 1)
//	IF                   ai.snn IF(current, threshold[1 or C]); attributes
//	                     reset (string), v_init (float)
//	SpikeMaxPool         ai.snn SpikeMaxPool; kernel_shape, strides, pads
//
// Network metadata goes to metadata_props (keys below), every value gets a
// value_info with a symbolic batch dimension "N".

// Metadata keys of the SNN file.
const (
	KeySemanticsVersion = "snn.semantics_version"
	KeyEncoding         = "snn.encoding"
	KeyTimestepsHint    = "snn.timesteps_hint"
	KeySourceSHA256     = "snn.source_sha256"
	KeySourceName       = "snn.source_name"
	KeyNormalization    = "snn.normalization"
	KeyStrippedHead     = "snn.stripped_head"
	// KeyPreprocessing is written by convert into Meta.Extra: the JSON of the
	// data-set preprocessing the source model expects.
	KeyPreprocessing = "snn.preprocessing"
)

// DomainSNN is the custom operator domain of the spiking operators.
const DomainSNN = "ai.snn"

const (
	onnxIRVersion = 7
	onnxOpset     = 13
	snnOpset      = 1
)

// ONNX protobuf field numbers (onnx.proto).
const (
	fModelIRVersion     = 1
	fModelProducerName  = 2
	fModelProducerVer   = 3
	fModelGraph         = 7
	fModelOpsetImport   = 8
	fModelMetadataProps = 14

	fOpsetDomain  = 1
	fOpsetVersion = 2

	fKVKey   = 1
	fKVValue = 2

	fGraphNode        = 1
	fGraphName        = 2
	fGraphInitializer = 5
	fGraphInput       = 11
	fGraphOutput      = 12
	fGraphValueInfo   = 13

	fNodeInput     = 1
	fNodeOutput    = 2
	fNodeName      = 3
	fNodeOpType    = 4
	fNodeAttribute = 5
	fNodeDomain    = 7

	fAttrName    = 1
	fAttrF       = 2
	fAttrI       = 3
	fAttrS       = 4
	fAttrFloats  = 7
	fAttrInts    = 8
	fAttrType    = 20
	attrFloat    = 1
	attrInt      = 2
	attrString   = 3
	attrFloatsTy = 6
	attrIntsTy   = 7

	fTensorDims         = 1
	fTensorDataType     = 2
	fTensorFloatData    = 4
	fTensorInt64Data    = 7
	fTensorName         = 8
	fTensorRawData      = 9
	fTensorDataLocation = 14
	dtFloat             = 1
	dtInt64             = 7

	fValueName      = 1
	fValueType      = 2
	fTypeTensor     = 1
	fTTElemType     = 1
	fTTShape        = 2
	fShapeDim       = 1
	fDimValue       = 1
	fDimParam       = 2
	batchDimParam   = "N"
	producerName    = "snnconvert"
	producerVersion = "snnrt semantics v1"
)

// Write encodes net and writes it to path atomically: a temporary file in the
// same directory is renamed over path only once it is complete.
func Write(path string, net *Network) error {
	b, err := Encode(net)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	fail := func(err error) error {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.Write(b); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Chmod(tmp, 0o644); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// Encode returns the SNN file bytes of net. The output is a deterministic
// function of the network: Encode(Decode(Encode(n))) == Encode(n).
func Encode(net *Network) ([]byte, error) {
	if net.Meta.SemanticsVersion != 0 && net.Meta.SemanticsVersion != SemanticsVersion {
		return nil, fmt.Errorf("network %q: semantics version %d cannot be written by this runtime (v%d)", net.Name, net.Meta.SemanticsVersion, SemanticsVersion)
	}
	shapes, err := inferShapes(net)
	if err != nil {
		return nil, err
	}
	e := &graphEnc{shapes: shapes, names: map[string]string{}}
	e.claim(net.Input, "graph input")
	for _, n := range net.Nodes {
		if n.Name == "" {
			return nil, fmt.Errorf("network %q: a %s node has no name", net.Name, n.Op)
		}
		if err := e.claim(n.Output, "value"); err != nil {
			return nil, fmt.Errorf("node %q (%s): %w", n.Name, n.Op, err)
		}
	}
	for _, n := range net.Nodes {
		if err := e.node(n); err != nil {
			return nil, fmt.Errorf("node %q (%s): %w", n.Name, n.Op, err)
		}
	}
	var g []byte
	g = append(g, e.nodes...)
	g = appendString(g, fGraphName, net.Name)
	g = append(g, e.inits...)
	g = appendMsg(g, fGraphInput, valueInfoMsg(net.Input, net.InputShape))
	g = appendMsg(g, fGraphOutput, valueInfoMsg(net.Output, shapes[net.Output]))
	g = append(g, e.vinfo...)

	props, err := metaProps(net.Meta)
	if err != nil {
		return nil, fmt.Errorf("network %q: %w", net.Name, err)
	}
	var m []byte
	m = protowire.AppendTag(m, fModelIRVersion, protowire.VarintType)
	m = protowire.AppendVarint(m, onnxIRVersion)
	m = appendString(m, fModelProducerName, producerName)
	m = appendString(m, fModelProducerVer, producerVersion)
	m = appendMsg(m, fModelGraph, g)
	m = appendMsg(m, fModelOpsetImport, opset("", onnxOpset))
	m = appendMsg(m, fModelOpsetImport, opset(DomainSNN, snnOpset))
	for _, kv := range props {
		var p []byte
		p = appendString(p, fKVKey, kv[0])
		p = appendString(p, fKVValue, kv[1])
		m = appendMsg(m, fModelMetadataProps, p)
	}
	return m, nil
}

var reservedKeys = []string{KeySemanticsVersion, KeyEncoding, KeyTimestepsHint, KeySourceSHA256, KeySourceName, KeyNormalization, KeyStrippedHead}

func metaProps(meta Meta) ([][2]string, error) {
	norm, err := json.Marshal(meta.Normalization)
	if err != nil {
		return nil, err
	}
	head := []byte("[]")
	if len(meta.StrippedHead) > 0 {
		if head, err = json.Marshal(meta.StrippedHead); err != nil {
			return nil, err
		}
	}
	enc := meta.Encoding
	if enc == "" {
		enc = EncodingAnalog
	}
	props := [][2]string{
		{KeySemanticsVersion, strconv.Itoa(SemanticsVersion)},
		{KeyEncoding, string(enc)},
		{KeyTimestepsHint, strconv.Itoa(meta.TimestepsHint)},
		{KeySourceSHA256, meta.SourceSHA256},
		{KeyNormalization, string(norm)},
		{KeyStrippedHead, string(head)},
	}
	if meta.SourceName != "" {
		props = append(props, [2]string{KeySourceName, meta.SourceName})
	}
	for k, v := range meta.Extra {
		if slices.Contains(reservedKeys, k) {
			return nil, fmt.Errorf("metadata key %q in Meta.Extra is reserved", k)
		}
		props = append(props, [2]string{k, v})
	}
	slices.SortFunc(props, func(a, b [2]string) int {
		switch {
		case a[0] < b[0]:
			return -1
		case a[0] > b[0]:
			return 1
		}
		return 0
	})
	return props, nil
}

type graphEnc struct {
	shapes              map[string][]int
	names               map[string]string // every graph-level name -> what owns it
	nodes, inits, vinfo []byte
}

// claim reserves a graph-level name: ONNX values and initializers share one
// namespace, so a collision would make the file ambiguous.
func (e *graphEnc) claim(name, what string) error {
	if name == "" {
		return fmt.Errorf("empty %s name", what)
	}
	if prev, ok := e.names[name]; ok {
		return fmt.Errorf("name %q used both as %s and as %s", name, prev, what)
	}
	e.names[name] = what
	return nil
}

func (e *graphEnc) init(name string, t *Tensor) (string, error) {
	if err := e.claim(name, "initializer"); err != nil {
		return "", err
	}
	e.inits = appendMsg(e.inits, fGraphInitializer, floatTensor(name, t.Shape, t.Data))
	return name, nil
}

func (e *graphEnc) emit(name, opType, domain string, ins, outs []string, attrs ...[]byte) {
	var b []byte
	for _, in := range ins {
		b = appendString(b, fNodeInput, in)
	}
	for _, o := range outs {
		b = appendString(b, fNodeOutput, o)
	}
	b = appendString(b, fNodeName, name)
	b = appendString(b, fNodeOpType, opType)
	for _, a := range attrs {
		b = appendMsg(b, fNodeAttribute, a)
	}
	if domain != "" {
		b = appendString(b, fNodeDomain, domain)
	}
	e.nodes = appendMsg(e.nodes, fGraphNode, b)
}

func (e *graphEnc) value(name string, shape []int) {
	e.vinfo = appendMsg(e.vinfo, fGraphValueInfo, valueInfoMsg(name, shape))
}

// weights adds W (and B when present) as initializers and returns the node inputs.
func (e *graphEnc) weights(n *Node, ins []string) ([]string, error) {
	w, err := e.init(n.Name+".W", n.W)
	if err != nil {
		return nil, err
	}
	ins = append(ins, w)
	if n.B != nil {
		b, err := e.init(n.Name+".B", n.B)
		if err != nil {
			return nil, err
		}
		ins = append(ins, b)
	}
	return ins, nil
}

func (e *graphEnc) node(n *Node) error {
	shape := e.shapes[n.Output]
	out := []string{n.Output}
	switch n.Op {
	case OpConv:
		g, _ := resolveGeom(n, n.W.Shape[2], n.W.Shape[3])
		ins, err := e.weights(n, []string{n.Inputs[0]})
		if err != nil {
			return err
		}
		e.emit(n.Name, "Conv", "", ins, out,
			intsAttr("dilations", g.dh, g.dw), intAttr("group", max(n.Group, 1)),
			intsAttr("kernel_shape", g.kh, g.kw), intsAttr("pads", g.pt, g.pl, g.pb, g.pr),
			intsAttr("strides", g.sh, g.sw))
	case OpDense:
		ins, err := e.weights(n, []string{n.Inputs[0]})
		if err != nil {
			return err
		}
		e.emit(n.Name, "Gemm", "", ins, out, intAttr("transB", 1))
	case OpSumPool:
		g, _ := resolveGeom(n, n.Kernel[0], n.Kernel[1])
		avg := n.Output + ".avg"
		if err := e.claim(avg, "value"); err != nil {
			return err
		}
		k, err := e.init(n.Name+".window", &Tensor{Data: []float32{float32(g.kh * g.kw)}})
		if err != nil {
			return err
		}
		e.emit(n.Name, "AveragePool", "", n.Inputs, []string{avg},
			intAttr("count_include_pad", 1), intsAttr("kernel_shape", g.kh, g.kw),
			intsAttr("pads", g.pt, g.pl, g.pb, g.pr), intsAttr("strides", g.sh, g.sw))
		e.value(avg, shape)
		e.emit(n.Name+".sum", "Mul", "", []string{avg, k}, out)
	case OpSpikeMaxPool:
		g, _ := resolveGeom(n, n.Kernel[0], n.Kernel[1])
		e.emit(n.Name, "SpikeMaxPool", DomainSNN, n.Inputs, out,
			intsAttr("kernel_shape", g.kh, g.kw), intsAttr("pads", g.pt, g.pl, g.pb, g.pr),
			intsAttr("strides", g.sh, g.sw))
	case OpFlatten:
		e.emit(n.Name, "Flatten", "", n.Inputs, out, intAttr("axis", 1))
	case OpReshape:
		name := n.Name + ".shape"
		if err := e.claim(name, "initializer"); err != nil {
			return err
		}
		dims := []int64{-1}
		for _, d := range shape {
			dims = append(dims, int64(d))
		}
		e.inits = appendMsg(e.inits, fGraphInitializer, int64Tensor(name, dims))
		e.emit(n.Name, "Reshape", "", []string{n.Inputs[0], name}, out)
	case OpAdd:
		ins := append([]string(nil), n.Inputs...)
		for i, in := range n.Inputs {
			if n.Scales == nil || n.Scales[i] == 1 {
				continue
			}
			scaled := fmt.Sprintf("%s.in%d", n.Output, i)
			if err := e.claim(scaled, "value"); err != nil {
				return err
			}
			k, err := e.init(fmt.Sprintf("%s.scale%d", n.Name, i), &Tensor{Data: []float32{n.Scales[i]}})
			if err != nil {
				return err
			}
			e.emit(fmt.Sprintf("%s.scale%d", n.Name, i), "Mul", "", []string{in, k}, []string{scaled})
			e.value(scaled, shape)
			ins[i] = scaled
		}
		op := "Sum"
		if len(ins) == 2 {
			op = "Add"
		}
		e.emit(n.Name, op, "", ins, out)
	case OpConcat:
		e.emit(n.Name, "Concat", "", n.Inputs, out, intAttr("axis", n.Axis+1))
	case OpAffine:
		ins, err := e.weights(n, []string{n.Inputs[0]})
		if err != nil {
			return err
		}
		e.emit(n.Name, "Affine", DomainSNN, ins, out)
	case OpIF:
		th, err := e.init(n.Name+".threshold", &Tensor{Shape: []int{len(n.Threshold)}, Data: n.Threshold})
		if err != nil {
			return err
		}
		reset := n.Reset
		if reset == "" {
			reset = ResetSubtract
		}
		e.emit(n.Name, "IF", DomainSNN, []string{n.Inputs[0], th}, out,
			stringAttr("reset", string(reset)), floatAttr("v_init", n.VInit))
	default:
		return fmt.Errorf("unknown op")
	}
	e.value(n.Output, shape)
	return nil
}

func appendString(b []byte, num protowire.Number, s string) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

func appendMsg(b []byte, num protowire.Number, msg []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, msg)
}

func appendVarintField(b []byte, num protowire.Number, v int64) []byte {
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, uint64(v))
}

func opset(domain string, v int64) []byte {
	var b []byte
	b = appendString(b, fOpsetDomain, domain)
	return appendVarintField(b, fOpsetVersion, v)
}

func attrHeader(name string, ty int64) []byte {
	b := appendString(nil, fAttrName, name)
	return appendVarintField(b, fAttrType, ty)
}

func intAttr(name string, v int) []byte {
	return appendVarintField(attrHeader(name, attrInt), fAttrI, int64(v))
}

// intsAttr writes repeated int64 unpacked, as onnx.proto (proto2) declares it.
func intsAttr(name string, vs ...int) []byte {
	b := attrHeader(name, attrIntsTy)
	for _, v := range vs {
		b = appendVarintField(b, fAttrInts, int64(v))
	}
	return b
}

func floatAttr(name string, v float32) []byte {
	b := attrHeader(name, attrFloat)
	b = protowire.AppendTag(b, fAttrF, protowire.Fixed32Type)
	return protowire.AppendFixed32(b, math.Float32bits(v))
}

func stringAttr(name, v string) []byte {
	return appendString(attrHeader(name, attrString), fAttrS, v)
}

func floatTensor(name string, shape []int, data []float32) []byte {
	var b []byte
	for _, d := range shape {
		b = appendVarintField(b, fTensorDims, int64(d))
	}
	b = appendVarintField(b, fTensorDataType, dtFloat)
	b = appendString(b, fTensorName, name)
	raw := make([]byte, 4*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
	}
	return appendMsg(b, fTensorRawData, raw)
}

func int64Tensor(name string, data []int64) []byte {
	b := appendVarintField(nil, fTensorDims, int64(len(data)))
	b = appendVarintField(b, fTensorDataType, dtInt64)
	b = appendString(b, fTensorName, name)
	raw := make([]byte, 8*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint64(raw[8*i:], uint64(v))
	}
	return appendMsg(b, fTensorRawData, raw)
}

func valueInfoMsg(name string, shape []int) []byte {
	var sh []byte
	sh = appendMsg(sh, fShapeDim, appendString(nil, fDimParam, batchDimParam))
	for _, d := range shape {
		sh = appendMsg(sh, fShapeDim, appendVarintField(nil, fDimValue, int64(d)))
	}
	tt := appendVarintField(nil, fTTElemType, dtFloat)
	tt = appendMsg(tt, fTTShape, sh)
	b := appendString(nil, fValueName, name)
	return appendMsg(b, fValueType, appendMsg(nil, fTypeTensor, tt))
}
