// Package importer reads ONNX models into the canonical ann.Graph.
//
// In: the bytes of an ONNX model (any IR version 3–10, opsets 6–20, from
// PyTorch, tf2onnx, keras2onnx, CNTK and others), optionally with external
// data files next to it.
// Out: an *ann.Graph with canonical ops, per-sample shapes inferred, constant
// subgraphs folded, the batch axis free; or an *Error that lists every node
// that could not be imported, each with op type, name, opset, reason and hint.
//
// Decoding runs in two steps. A wire-level pre-pass (protowire) reads what
// onnx-go v0.5.0 does not expose or cannot decode — IR version, opsets,
// producer, node names, symbolic dimensions, float16/int8/uint8/bool and
// external-data tensors — validates every size against the bytes actually
// present, and re-encodes a sanitized model. That model is then decoded
// through onnx-go's public Backend interface by a recorder that keeps each
// operation's operands in the order onnx-go announces them (its simple graph
// would merge the two operands of Add(x, x)). onnx-go supplies op types,
// attributes and tensor values; the pre-pass supplies the rest.
//
// Choices a user may trip over:
//   - Axis 0 of every graph input is the batch axis and is free: a model
//     exported with a fixed batch of 1, 10 or 64 runs at any batch size, and
//     Reshape targets that restate the exported batch size are resolved to
//     per-sample shapes. Graph inputs keep the exported size in
//     ann.Value.FixedBatch for information.
//   - Heads (Softmax, LogSoftmax, ArgMax), Dropout, Identity and an input
//     Cast are kept as nodes; package convert strips or removes them.
//   - ONNX Min/Max against a scalar constant become Clip with the open side at
//     ±Inf; Gemm and MatMul with constant weights become Dense with W [Out, In].
//   - A Cast to an integer type is accepted only where the value is already
//     integral (an integer graph input or an ArgMax index); elsewhere it would
//     truncate activations and is refused.
//   - An initializer or Constant holding NaN is refused (every output it
//     reaches would be NaN); ±Inf is kept, as Clip and Max bounds use it.
package importer

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"

	_ "go4.org/unsafe/assume-no-moving-gc"

	onnx "github.com/owulveryck/onnx-go"

	"github.com/snnconvert/snnconvert/ann"
)

// Options control an import.
type Options struct {
	// Name names the model in errors and in the graph (default: the graph name).
	Name string
	// BaseDir is the directory external-data locations are resolved against
	// (ImportFile sets it to the model's directory). Data outside it is refused.
	BaseDir string
	// Outputs, when set, cuts the graph at these values: only the nodes they
	// depend on are imported, and they become the graph outputs. Use it to
	// take the classifier out of a graph that also computes metrics.
	Outputs []string
}

// errInternal marks a recovered panic: a bug in the importer, not in the model.
var errInternal = errors.New("internal importer error")

// maxModelBytes bounds what Import accepts; protobuf itself cannot exceed 2 GiB.
const maxModelBytes = 2 << 30

// ImportFile reads and imports an ONNX file; external data is resolved
// relative to the file's directory.
func ImportFile(path string) (*ann.Graph, error) {
	return ImportFileWith(path, Options{})
}

// ImportFileWith is ImportFile with options; an empty Name or BaseDir is
// filled from the path.
func ImportFileWith(path string, opt Options) (*ann.Graph, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.Size() > maxModelBytes {
		return nil, fmt.Errorf("%s: %d bytes is larger than any ONNX protobuf can be", path, st.Size())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if opt.BaseDir == "" {
		opt.BaseDir = filepath.Dir(path)
	}
	if opt.Name == "" {
		opt.Name = path
	}
	return Import(data, opt)
}

// Import decodes an ONNX model from bytes.
func Import(data []byte, opt Options) (g *ann.Graph, err error) {
	src := opt.Name
	if src == "" {
		src = "model"
	}
	defer func() {
		// Every input is validated before it reaches onnx-go or the lowering;
		// this is the last line of defence, so a bug surfaces as an error
		// naming the model instead of crashing the caller.
		if r := recover(); r != nil {
			g, err = nil, fmt.Errorf("%s: %w (please report): %v\n%s", src, errInternal, r, debug.Stack())
		}
	}()
	if len(data) == 0 {
		return nil, fmt.Errorf("%s: empty file", src)
	}
	if len(data) > maxModelBytes {
		return nil, fmt.Errorf("%s: %d bytes is larger than any ONNX protobuf can be", src, len(data))
	}
	m, err := parseModel(data)
	if err != nil {
		return nil, fmt.Errorf("%s: not a valid ONNX model: %w", src, err)
	}
	if err := checkHeader(m); err != nil {
		return nil, fmt.Errorf("%s: %w", src, err)
	}
	d, err := decode(m, opt.BaseDir)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", src, err)
	}
	g, err = lower(m, d, opt)
	if err != nil {
		var ie *Error
		if errors.As(err, &ie) {
			ie.Source = src
			return nil, ie
		}
		return nil, fmt.Errorf("%s: %w", src, err)
	}
	return g, nil
}

// checkHeader rejects files that are valid protobuf but not an ONNX model
// (protobuf accepts most short byte strings as some message).
func checkHeader(m *wModel) error {
	if m.IRVersion <= 0 {
		return fmt.Errorf("not an ONNX model: no ir_version (wrong file type or truncated header?)")
	}
	if m.IRVersion > 11 {
		return fmt.Errorf("IR version %d is newer than this importer knows (3–10); re-export with an older onnx", m.IRVersion)
	}
	for _, o := range m.Opsets {
		// snnrt's operator domain: convert's output fed back in.
		if o.Domain == "ai.snn" {
			return fmt.Errorf("a spiking network written by snnconvert convert (ai.snn operators), not an ANN model: give its source ONNX model here; snnconvert run simulates this file and snnconvert inspect shows it")
		}
	}
	if m.Graph == nil {
		return fmt.Errorf("not an ONNX model: no graph (file truncated?)")
	}
	if len(m.Graph.Nodes) == 0 {
		return fmt.Errorf("graph %q has no nodes", m.Graph.Name)
	}
	if len(m.Graph.Outputs) == 0 {
		return fmt.Errorf("graph %q declares no outputs", m.Graph.Name)
	}
	return nil
}

// decoded is what the two decoding steps produce together.
type decoded struct {
	nodes    []*onnxNode
	inits    map[string]*constTensor
	problems []Problem
	opsets   map[string]int64
}

// onnxNode is one ONNX node as onnx-go decoded it, completed by the wire pass.
type onnxNode struct {
	index   int
	name    string
	op      string
	domain  string
	opset   int64
	inputs  []string
	outputs []string
	attrs   map[string]any
	// wireAttrs holds attributes onnx-go could not carry (empty tensors).
	wireAttrs map[string]*constTensor
	// graphAttrs names sub-graph or tensor-list attributes (If, Loop, Scan).
	graphAttrs []string
}

func decode(m *wModel, baseDir string) (*decoded, error) {
	d := &decoded{inits: map[string]*constTensor{}, opsets: map[string]int64{}}
	for _, o := range m.Opsets {
		dom := o.Domain
		if dom == "ai.onnx" {
			dom = ""
		}
		d.opsets[dom] = o.Version
	}
	if _, ok := d.opsets[""]; !ok {
		return nil, fmt.Errorf("the model imports no ai.onnx opset (opset_import is missing)")
	}
	initVals := make([]*constTensor, len(m.Graph.Inits))
	seen := map[string]bool{}
	for i, t := range m.Graph.Inits {
		if t.Name == "" {
			d.problems = append(d.problems, Problem{Node: fmt.Sprintf("initializer #%d", i), Op: "initializer", Reason: "initializer has no name"})
			continue
		}
		if seen[t.Name] {
			d.problems = append(d.problems, Problem{Node: t.Name, Op: "initializer", Reason: "initializer name is used twice"})
			continue
		}
		seen[t.Name] = true
		c, err := decodeTensor(t, baseDir)
		if err != nil {
			d.problems = append(d.problems, Problem{Node: t.Name, Op: "initializer", Reason: err.Error(), Hint: tensorHint(err)})
			continue
		}
		initVals[i] = c
	}
	if m.Graph.SparseInits > 0 {
		d.problems = append(d.problems, Problem{Node: m.Graph.Name, Op: "graph", Reason: fmt.Sprintf("%d sparse initializers are not supported", m.Graph.SparseInits), Hint: hintReexport})
	}
	attrTensors := map[*wAttr]*constTensor{}
	for _, n := range m.Graph.Nodes {
		for _, a := range n.Attrs {
			if a.Type != atTensor {
				continue
			}
			if a.T == nil {
				continue
			}
			c, err := decodeTensor(a.T, baseDir)
			if err != nil {
				d.problems = append(d.problems, Problem{Node: n.Name, Op: n.OpType, Opset: d.opsets[n.Domain], Reason: fmt.Sprintf("attribute %q: %v", a.Name, err), Hint: tensorHint(err)})
				continue
			}
			attrTensors[a] = c
		}
	}

	rec := newRecorder()
	if err := unmarshalOnnxGo(rec, encodeSanitized(m, initVals, attrTensors)); err != nil {
		return nil, fmt.Errorf("onnx-go could not decode the sanitized model: %w", err)
	}
	if len(rec.ops) != len(m.Graph.Nodes) {
		return nil, fmt.Errorf("onnx-go decoded %d operations from %d nodes", len(rec.ops), len(m.Graph.Nodes))
	}
	tensors := rec.tensorByName()
	for i, t := range m.Graph.Inits {
		c := initVals[i]
		if c == nil {
			continue
		}
		if gt, ok := tensors[t.Name]; ok && onnxGoCarries(c) {
			v, err := fromGorgonia(gt)
			if err != nil {
				return nil, fmt.Errorf("initializer %q: %w", t.Name, err)
			}
			c = v
		}
		d.inits[t.Name] = c
	}
	for i, wn := range m.Graph.Nodes {
		op := rec.ops[i]
		n := &onnxNode{
			index: i, name: wn.Name, op: op.opType, domain: wn.Domain, opset: d.opsets[wn.Domain],
			inputs: wn.Inputs, outputs: wn.Outputs, attrs: op.attrs,
		}
		if domain := wn.Domain; domain == "ai.onnx" {
			n.domain, n.opset = "", d.opsets[""]
		}
		if err := crossCheck(wn, op); err != nil {
			return nil, fmt.Errorf("node %d %q (%s): %w", i, wn.Name, wn.OpType, err)
		}
		for _, a := range wn.Attrs {
			switch {
			case a.Type == atTensor && attrTensors[a] != nil && !onnxGoCarries(attrTensors[a]):
				if n.wireAttrs == nil {
					n.wireAttrs = map[string]*constTensor{}
				}
				n.wireAttrs[a.Name] = attrTensors[a]
			case a.Type == atGraph || a.Type == atGraphs || a.Type == atTensors || a.Type > atGraphs:
				n.graphAttrs = append(n.graphAttrs, a.Name)
			}
		}
		d.nodes = append(d.nodes, n)
	}
	return d, nil
}

// crossCheck verifies that onnx-go's operation matches the wire node it came
// from (same op, same operands in the same order).
func crossCheck(wn *wNode, op recOp) error {
	if op.opType != wn.OpType {
		return fmt.Errorf("onnx-go reports op %q", op.opType)
	}
	want := sanitizedInputs(wn)
	got := op.inputs
	if len(want) == 0 && len(wn.Outputs) > 0 {
		// onnx-go gives input-less nodes a placeholder operand.
		got = nil
	}
	if len(wn.Outputs) == 0 {
		return nil
	}
	if strings.Join(got, "\x00") != strings.Join(want, "\x00") || len(got) != len(want) {
		return fmt.Errorf("onnx-go reports operands %q, the file lists %q", got, want)
	}
	return nil
}

func unmarshalOnnxGo(rec *recorder, b []byte) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("onnx-go panicked: %v", r)
		}
	}()
	return onnx.NewModel(rec).UnmarshalBinary(b)
}

// errNaN marks a constant holding NaN: every output it reaches would be NaN,
// so the model is refused here rather than mis-converted later.
var errNaN = errors.New("is NaN")

func checkNaN(c *constTensor) error {
	for i, v := range c.data {
		if math.IsNaN(v) {
			return fmt.Errorf("element %d of shape %v %w", i, c.shape, errNaN)
		}
	}
	return nil
}

func tensorHint(err error) string {
	s := err.Error()
	switch {
	case errors.Is(err, errNaN):
		return "the weights are corrupt (a diverged training run?); re-export from a good checkpoint"
	case strings.Contains(s, "escapes"), strings.Contains(s, "relative path"):
		return "keep external data files next to the model (onnx.save_model(..., location=\"model.onnx.data\"))"
	case strings.Contains(s, "external data"):
		return "keep the external data file next to the model file, under the name the model records"
	case strings.Contains(s, "not supported"):
		return "convert the tensor to float32 before export"
	}
	return "the file is truncated or corrupt; re-export it"
}
