package importer

import (
	"container/heap"
	"fmt"
	"math"
	"strings"

	"gorgonia.org/tensor"

	"github.com/snnconvert/snnconvert/ann"
)

// lowerer turns decoded ONNX nodes into canonical ann nodes. Values are either
// constants (folded at import time, full ONNX shapes) or activations (per-sample
// shapes in g.Shapes, batch axis implicit).
type lowerer struct {
	g        *ann.Graph
	consts   map[string]*constTensor
	integral map[string]bool // activations that hold integer values
	poisoned map[string]bool // outputs of nodes that could not be lowered
	consumed map[string]bool
	problems []Problem
	values   map[string]bool // every value and param name in use
	nodes    map[string]bool // ann node names in use
	asIs     map[string]string
	// fixedBatch is the batch size the first graph input was exported with
	// (0 when symbolic).
	fixedBatch int
	warnings   []string
	// folded counts the elements constant folding has produced so far.
	folded int
}

func lower(m *wModel, d *decoded, opt Options) (*ann.Graph, error) {
	name := opt.Name
	if name == "" {
		name = m.Graph.Name
	}
	g := &ann.Graph{
		Name:   name,
		Params: map[string]*ann.Tensor{},
		Shapes: map[string][]int{},
		Info: ann.ModelInfo{
			Producer: m.Producer, ProducerVersion: m.ProducerVersion, IRVersion: m.IRVersion,
			Opsets: d.opsets, DocString: m.DocString,
		},
	}
	l := &lowerer{
		g: g, consts: map[string]*constTensor{}, integral: map[string]bool{}, poisoned: map[string]bool{},
		consumed: map[string]bool{}, values: map[string]bool{}, nodes: map[string]bool{}, asIs: map[string]string{},
		problems: append([]Problem(nil), d.problems...),
	}
	for k, c := range d.inits {
		l.consts[k] = c
		l.values[k] = true
	}
	for _, p := range d.problems {
		if p.Op == "initializer" {
			l.poisoned[p.Node] = true
		}
	}
	if v := d.opsets[""]; v < 6 || v > 21 {
		l.warnings = append(l.warnings, fmt.Sprintf("ai.onnx opset %d is outside the tested range 6–20; ops are read with the nearest semantics this importer knows", v))
	}
	for dom, v := range d.opsets {
		if dom != "" && dom != "ai.onnx.ml" {
			l.warnings = append(l.warnings, fmt.Sprintf("the model imports opset %s v%d; nodes of that domain are not supported", dom, v))
		}
	}

	nodes := d.nodes
	outputs := make([]string, 0, len(m.Graph.Outputs))
	for _, o := range m.Graph.Outputs {
		outputs = append(outputs, o.Name)
	}
	if len(opt.Outputs) > 0 {
		var err error
		if nodes, err = cutAt(nodes, opt.Outputs, m, d); err != nil {
			return nil, err
		}
		outputs = append([]string(nil), opt.Outputs...)
	}
	for _, n := range nodes {
		for _, in := range n.inputs {
			l.consumed[in] = true
		}
		for _, o := range n.outputs {
			l.values[o] = true
		}
	}
	for _, o := range outputs {
		l.consumed[o] = true
	}
	l.graphInputs(m, d)

	order, cyclic := topoOrder(nodes)
	for _, n := range order {
		l.lowerNode(n)
	}
	for _, n := range cyclic {
		l.problem(n, "the node is part of a cycle", "ONNX graphs must be acyclic; the file is corrupt")
		l.poison(n)
	}
	for _, o := range outputs {
		switch {
		case l.poisoned[o]:
		case l.consts[o] != nil:
			l.problems = append(l.problems, Problem{Node: o, Op: "output", Reason: "graph output is a constant: it does not depend on the input", Hint: hintSubgraph})
		case !l.isAct(o):
			l.problems = append(l.problems, Problem{Node: o, Op: "output", Reason: "graph output is not produced by any node", Hint: "the file is corrupt or the output name is misspelled"})
		case l.isGraphInput(o):
			l.problems = append(l.problems, Problem{Node: o, Op: "output", Reason: "graph output is a graph input"})
		}
	}
	if len(l.problems) > 0 {
		return nil, &Error{Problems: l.problems, Note: l.cutSuggestion(nodes, outputs)}
	}
	g.Outputs = outputs
	l.dropUnusedInputs()
	g.Info.Warnings = append(g.Info.Warnings, l.warnings...)
	if err := g.TopoSort(); err != nil {
		return nil, err
	}
	if err := ann.InferShapes(g); err != nil {
		return nil, fmt.Errorf("imported graph is inconsistent (importer bug): %w", err)
	}
	return g, nil
}

func (l *lowerer) isGraphInput(name string) bool {
	for _, v := range l.g.Inputs {
		if v.Name == name {
			return true
		}
	}
	return false
}

// graphInputs declares the graph inputs that are not initializers. Axis 0 is
// the batch axis; the remaining dimensions must be static.
func (l *lowerer) graphInputs(m *wModel, d *decoded) {
	for _, v := range m.Graph.Inputs {
		if _, isInit := d.inits[v.Name]; isInit || l.poisoned[v.Name] {
			continue
		}
		if !l.consumed[v.Name] {
			l.warnings = append(l.warnings, fmt.Sprintf("graph input %q is not used by the imported nodes and was dropped", v.Name))
			continue
		}
		p := Problem{Node: v.Name, Op: "input"}
		val := ann.Value{Name: v.Name, DType: dtypeName(v.ElemType)}
		switch {
		case !v.HasType:
			p.Reason = "graph input has no tensor type"
		case !v.HasShape || len(v.Dims) == 0:
			p.Reason = "graph input has no shape (rank unknown)"
			p.Hint = "export with a fixed input shape (dynamic batch only)"
		case elemSize(v.ElemType) == 0:
			p.Reason = fmt.Sprintf("graph input has element type %s", dtypeName(v.ElemType))
		}
		if p.Reason == "" {
			if v.Dims[0].Known {
				val.FixedBatch = int(v.Dims[0].Value)
			}
			for i, dim := range v.Dims[1:] {
				if !dim.Known || dim.Value <= 0 || dim.Value > maxElems {
					what := dim.Param
					if what == "" {
						what = fmt.Sprint(dim.Value)
					}
					p.Reason = fmt.Sprintf("dimension %d is %q; only the batch axis (0) may be dynamic", i+1, what)
					p.Hint = "export with a fixed image size"
					break
				}
				val.Shape = append(val.Shape, int(dim.Value))
			}
			if numelOf(val.Shape) > maxElems {
				p.Reason = fmt.Sprintf("per-sample shape %v is too large", val.Shape)
			}
		}
		if p.Reason != "" {
			l.problems = append(l.problems, p)
			l.poisoned[v.Name] = true
			continue
		}
		if val.Shape == nil {
			val.Shape = []int{}
		}
		if l.fixedBatch == 0 && len(l.g.Inputs) == 0 {
			l.fixedBatch = val.FixedBatch
		}
		l.g.Inputs = append(l.g.Inputs, val)
		l.g.Shapes[v.Name] = val.Shape
		l.values[v.Name] = true
		switch v.ElemType {
		case dtFloat, dtDouble, dtFloat16, dtBfloat16:
		default:
			l.integral[v.Name] = true
		}
	}
}

func (l *lowerer) dropUnusedInputs() {
	used := map[string]bool{}
	for _, n := range l.g.Nodes {
		for _, in := range n.Inputs {
			used[in] = true
		}
	}
	kept := l.g.Inputs[:0]
	for _, v := range l.g.Inputs {
		if used[v.Name] {
			kept = append(kept, v)
			continue
		}
		delete(l.g.Shapes, v.Name)
		l.warnings = append(l.warnings, fmt.Sprintf("graph input %q is not needed for the outputs and was dropped", v.Name))
	}
	l.g.Inputs = kept
}

// topoOrder sorts nodes so producers come first (Kahn's algorithm, taking
// the lowest original index among ready nodes, so a sorted graph keeps its
// order; one corpus model stores its nodes in reverse). Inputs nobody
// produces do not block a node: lowering reports them. Nodes left over are on
// a cycle.
func topoOrder(nodes []*onnxNode) (order, cyclic []*onnxNode) {
	producers := map[string][]int{}
	for i, n := range nodes {
		for _, o := range n.outputs {
			if o != "" {
				producers[o] = append(producers[o], i)
			}
		}
	}
	waiting := make([]int, len(nodes))
	readers := make([][]int, len(nodes))
	for i, n := range nodes {
		for _, in := range n.inputs {
			for _, p := range producers[in] {
				waiting[i]++
				readers[p] = append(readers[p], i)
			}
		}
	}
	ready := &intHeap{}
	for i := range nodes {
		if waiting[i] == 0 {
			heap.Push(ready, i)
		}
	}
	done := make([]bool, len(nodes))
	for ready.Len() > 0 {
		i := heap.Pop(ready).(int)
		done[i] = true
		order = append(order, nodes[i])
		for _, r := range readers[i] {
			if waiting[r]--; waiting[r] == 0 {
				heap.Push(ready, r)
			}
		}
	}
	for i, n := range nodes {
		if !done[i] {
			cyclic = append(cyclic, n)
		}
	}
	return order, cyclic
}

type intHeap []int

func (h intHeap) Len() int           { return len(h) }
func (h intHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h intHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *intHeap) Push(x any)        { *h = append(*h, x.(int)) }
func (h *intHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// cutAt keeps only the nodes the chosen outputs depend on.
func cutAt(nodes []*onnxNode, outs []string, m *wModel, d *decoded) ([]*onnxNode, error) {
	producer := map[string]*onnxNode{}
	for _, n := range nodes {
		for _, o := range n.outputs {
			producer[o] = n
		}
	}
	keep := map[*onnxNode]bool{}
	var visit func(v string)
	visit = func(v string) {
		n := producer[v]
		if n == nil || keep[n] {
			return
		}
		keep[n] = true
		for _, in := range n.inputs {
			visit(in)
		}
	}
	var unknown []string
	for _, o := range outs {
		if producer[o] == nil {
			unknown = append(unknown, o)
			continue
		}
		visit(o)
	}
	if len(unknown) > 0 {
		var known []string
		for _, n := range nodes {
			known = append(known, n.outputs...)
		}
		if len(known) > 12 {
			known = append(known[:12], "...")
		}
		return nil, fmt.Errorf("output(s) %q are not produced by any node (node outputs include %s)", unknown, strings.Join(known, ", "))
	}
	var kept []*onnxNode
	for _, n := range nodes {
		if keep[n] {
			kept = append(kept, n)
		}
	}
	return kept, nil
}

// cutSuggestion names values a user could cut the graph at when the refused
// nodes only post-process a classifier (the "exported the wrong outputs"
// case): Softmax/LogSoftmax outputs, or activations feeding refused nodes.
func (l *lowerer) cutSuggestion(nodes []*onnxNode, outputs []string) string {
	var cands []string
	seen := map[string]bool{}
	for _, n := range nodes {
		if (n.op == "Softmax" || n.op == "LogSoftmax") && len(n.outputs) > 0 && l.isAct(n.outputs[0]) && !seen[n.outputs[0]] {
			cands = append(cands, n.outputs[0])
			seen[n.outputs[0]] = true
		}
	}
	if len(cands) == 0 {
		return ""
	}
	for _, o := range outputs {
		if seen[o] {
			return ""
		}
	}
	return fmt.Sprintf("The classifier output is probably %s: import with Options.Outputs (--output) set to it to leave the refused post-processing out.", quoteList(cands))
}

func quoteList(s []string) string {
	q := make([]string, len(s))
	for i, v := range s {
		q[i] = fmt.Sprintf("%q", v)
	}
	return strings.Join(q, " or ")
}

func (l *lowerer) problem(n *onnxNode, reason, hint string) {
	l.problems = append(l.problems, Problem{Node: n.displayName(), Op: n.op, Opset: n.opset, Reason: reason, Hint: hint})
}

func (n *onnxNode) displayName() string {
	if n.name != "" {
		return n.name
	}
	return fmt.Sprintf("#%d (unnamed)", n.index)
}

func (l *lowerer) poison(n *onnxNode) {
	for _, o := range n.outputs {
		l.poisoned[o] = true
	}
}

func (l *lowerer) lowerNode(n *onnxNode) {
	if n.domain != "" && n.domain != "ai.onnx" {
		l.problem(n, fmt.Sprintf("op %s of domain %q is not a standard ONNX op", n.op, n.domain), hintReexport)
		l.poison(n)
		return
	}
	if len(n.graphAttrs) > 0 {
		l.problem(n, fmt.Sprintf("control flow and sub-graph attributes (%s) are not supported", strings.Join(n.graphAttrs, ", ")), "unroll the loop or fix the branch at export time (torch.jit.trace instead of script)")
		l.poison(n)
		return
	}
	h, known := handlers[n.op]
	if !known {
		l.problem(n, fmt.Sprintf("op %s is not supported", n.op), unsupportedHint(n.op))
		l.poison(n)
		return
	}
	if n.op != "Constant" && n.in(0) == "" {
		l.problem(n, "input 0 is missing", "the file is corrupt or was edited by hand")
		l.poison(n)
		return
	}
	if l.folded > maxFoldedTotal && l.allConst(n) {
		l.problem(n, fmt.Sprintf("constant folding has already computed %d elements (more than %d)", l.folded, maxFoldedTotal), hintReexport)
		l.poison(n)
		return
	}
	for _, in := range n.inputs {
		if in == "" || l.poisoned[in] {
			continue
		}
		if l.consts[in] == nil && !l.isAct(in) {
			l.problem(n, fmt.Sprintf("input %q is not produced by any node, initializer or graph input", in), "the file is corrupt or was edited by hand")
			l.poison(n)
			return
		}
	}
	for _, in := range n.inputs {
		if l.poisoned[in] {
			l.poison(n)
			return
		}
	}
	if len(n.outputs) == 0 || n.outputs[0] == "" {
		l.warnings = append(l.warnings, fmt.Sprintf("node %q (%s) has no output and was dropped", n.displayName(), n.op))
		return
	}
	if err := h(l, n); err != nil {
		reason, hint := err.Error(), ""
		if r, ok := err.(*refusal); ok {
			hint = r.hint
		}
		l.problem(n, reason, hint)
		l.poison(n)
	}
}

func unsupportedHint(op string) string {
	switch op {
	case "Equal", "ReduceMean", "ReduceSum", "Less", "Greater", "Not", "And", "Or", "Where", "TopK", "NonZero":
		return hintSubgraph
	case "Elu", "Softplus", "HardSigmoid", "Gelu", "Mish", "Swish", "PRelu", "HardSwish", "Erf", "Exp":
		return "replace the activation with ReLU (or ReLU6) and retrain; spiking IF neurons approximate ReLU only"
	case "Resize", "Upsample", "ConvTranspose", "LRN", "LSTM", "GRU", "RNN", "InstanceNormalization", "LayerNormalization":
		return "this layer type has no integrate-and-fire equivalent here; use Conv/Gemm/pooling/BatchNormalization layers"
	case "QuantizeLinear", "DequantizeLinear", "QLinearConv", "QLinearMatMul", "MatMulInteger", "ConvInteger":
		return "export the float model (before quantization)"
	}
	return hintReexport
}

// handler lowers one node whose inputs are all known (constants or
// activations).
type handler func(l *lowerer, n *onnxNode) error

var handlers map[string]handler

func init() {
	handlers = map[string]handler{
		"Conv": lowerConv, "Gemm": lowerGemm, "MatMul": lowerMatMul,
		"Add": lowerBinary, "Sub": lowerBinary, "Mul": lowerBinary, "Div": lowerBinary, "Pow": lowerBinary,
		"Relu": lowerUnary, "Sigmoid": lowerUnary, "Tanh": lowerUnary, "LeakyRelu": lowerUnary, "Selu": lowerUnary,
		"Log": lowerUnary, "Identity": lowerUnary, "Dropout": lowerUnary,
		"Neg": lowerUnary, "Sqrt": lowerUnary, "Reciprocal": lowerUnary, "Abs": lowerUnary, "Exp": lowerUnary,
		"Floor": lowerUnary, "Ceil": lowerUnary,
		"Clip": lowerClip, "Min": lowerMinMax, "Max": lowerMinMax,
		"MaxPool": lowerPool, "AveragePool": lowerPool, "GlobalAveragePool": lowerGlobalPool, "GlobalMaxPool": lowerGlobalPool,
		"BatchNormalization": lowerBatchNorm,
		"Flatten":            lowerFlatten, "Reshape": lowerReshape, "Transpose": lowerTranspose,
		"Squeeze": lowerSqueeze, "Unsqueeze": lowerSqueeze, "Concat": lowerConcat, "Pad": lowerPad,
		"Softmax": lowerSoftmax, "LogSoftmax": lowerSoftmax, "ArgMax": lowerArgMax,
		"Cast": lowerCast, "Constant": lowerConstant, "ConstantOfShape": lowerConstantOfShape,
		"Shape": lowerShape, "Gather": lowerGather, "Slice": lowerSlice,
	}
}

// ---- attribute access ----

func (n *onnxNode) attrInt(name string, def int64) int64 {
	if v, ok := n.attrs[name].(int64); ok {
		return v
	}
	return def
}

func (n *onnxNode) hasAttr(name string) bool {
	_, ok := n.attrs[name]
	return ok
}

func (n *onnxNode) attrFloat(name string, def float32) float32 {
	if v, ok := n.attrs[name].(float32); ok {
		return v
	}
	return def
}

func (n *onnxNode) attrString(name, def string) string {
	if v, ok := n.attrs[name].(string); ok {
		return v
	}
	return def
}

// attrInts returns an INTS attribute (nil, false when absent).
func (n *onnxNode) attrInts(name string) ([]int, bool) {
	v, ok := n.attrs[name].([]int64)
	if !ok {
		return nil, false
	}
	out := make([]int, len(v))
	for i, x := range v {
		out[i] = int(x)
	}
	return out, true
}

func (n *onnxNode) attrTensor(name string) (*constTensor, bool, error) {
	if c, ok := n.wireAttrs[name]; ok {
		return c, true, nil
	}
	v, ok := n.attrs[name]
	if !ok {
		return nil, false, nil
	}
	t, ok := v.(tensor.Tensor)
	if !ok {
		return nil, true, fmt.Errorf("attribute %q is not a tensor", name)
	}
	c, err := fromGorgonia(t)
	return c, true, err
}

// ---- value access ----

func (n *onnxNode) in(i int) string {
	if i < len(n.inputs) {
		return n.inputs[i]
	}
	return ""
}

// isAct reports whether name is an activation (a per-sample scalar has an
// empty, possibly nil, shape, so presence is what counts).
func (l *lowerer) isAct(name string) bool {
	_, ok := l.g.Shapes[name]
	return name != "" && ok
}

func (l *lowerer) act(n *onnxNode, i int) (string, []int, error) {
	name := n.in(i)
	if name == "" {
		return "", nil, refuse("", "input %d is missing", i)
	}
	if !l.isAct(name) {
		return "", nil, refuse(hintReexport, "input %d %q must be an activation, found a constant", i, name)
	}
	return name, l.g.Shapes[name], nil
}

func (l *lowerer) cst(n *onnxNode, i int, what string) (*constTensor, error) {
	name := n.in(i)
	if name == "" {
		return nil, refuse("", "input %d (%s) is missing", i, what)
	}
	c := l.consts[name]
	if c == nil {
		return nil, refuse(hintConstWeights, "input %d (%s) %q must be a constant, found an activation", i, what, name)
	}
	return c, nil
}

// optCst returns an optional constant input (nil when absent).
func (l *lowerer) optCst(n *onnxNode, i int, what string) (*constTensor, error) {
	if n.in(i) == "" {
		return nil, nil
	}
	return l.cst(n, i, what)
}

func (l *lowerer) allConst(n *onnxNode) bool {
	for _, in := range n.inputs {
		if in != "" && l.consts[in] == nil {
			return false
		}
	}
	return true
}

func (l *lowerer) setConst(n *onnxNode, c *constTensor) error {
	if len(c.data) > maxFolded || numelOf(c.shape) > maxFolded {
		return refuse(hintReexport, "folded constant of shape %v is larger than %d elements", c.shape, maxFolded)
	}
	if numelOf(c.shape) != len(c.data) {
		return fmt.Errorf("folded constant has shape %v but %d values (importer bug)", c.shape, len(c.data))
	}
	l.consts[n.outputs[0]] = c
	l.folded += len(c.data)
	return nil
}

func (l *lowerer) unique(base string, used map[string]bool) string {
	name := base
	for i := 1; used[name]; i++ {
		name = fmt.Sprintf("%s_%d", base, i)
	}
	used[name] = true
	return name
}

// nodeName is the ann node name for n (suffix for the extra nodes of a
// multi-node lowering).
func (l *lowerer) nodeName(n *onnxNode, suffix string) string {
	base := n.name
	if base == "" {
		base = fmt.Sprintf("%s_%d", n.op, n.index)
	}
	return l.unique(base+suffix, l.nodes)
}

// paramAsIs registers constant value name (an initializer or folded value)
// as a Param of the given shape, reusing it when asked again.
func (l *lowerer) paramAsIs(name string, shape []int) string {
	key := fmt.Sprint(name, shape)
	if p, ok := l.asIs[key]; ok {
		return p
	}
	p := name
	if _, taken := l.g.Params[p]; taken {
		p = l.unique(name+"/reshaped", l.values)
	}
	l.g.Params[p] = &ann.Tensor{Shape: append([]int{}, shape...), Data: l.consts[name].float32s()}
	l.values[p] = true
	l.asIs[key] = p
	return p
}

// newParam registers a derived constant under a fresh name.
func (l *lowerer) newParam(base string, shape []int, data []float32) string {
	p := l.unique(base, l.values)
	l.g.Params[p] = &ann.Tensor{Shape: shape, Data: data}
	return p
}

// emit appends an ann node, inferring its output shape.
func (l *lowerer) emit(an *ann.Node) error {
	in := make([][]int, len(an.Inputs))
	for i, v := range an.Inputs {
		if v != "" && !l.g.IsParam(v) {
			// nil would mean "a Param" to NodeOutputShape.
			in[i] = append([]int{}, l.g.Shapes[v]...)
		}
	}
	shape, err := ann.NodeOutputShape(l.g, an, in)
	if err != nil {
		return refuse(hintReexport, "%v", err)
	}
	if numelOf(shape) > maxElems {
		return refuse("", "output shape %v is too large", shape)
	}
	if shape == nil {
		shape = []int{}
	}
	l.g.Nodes = append(l.g.Nodes, an)
	l.g.Shapes[an.Outputs[0]] = shape
	switch an.Op {
	case ann.OpArgMax:
		l.integral[an.Outputs[0]] = true
	case ann.OpCast, ann.OpIdentity, ann.OpDropout, ann.OpReshape, ann.OpFlatten, ann.OpTranspose, ann.OpConcat:
		if len(an.Inputs) > 0 && l.integral[an.Inputs[0]] {
			l.integral[an.Outputs[0]] = true
		}
	}
	return nil
}

func (l *lowerer) emitSimple(n *onnxNode, op ann.Op, inputs []string, attrs ann.Attrs) error {
	return l.emit(&ann.Node{Name: l.nodeName(n, ""), Op: op, Inputs: inputs, Outputs: []string{n.outputs[0]}, Attrs: attrs, Source: n.op})
}

// extraOutputsUnused refuses nodes whose secondary outputs (MaxPool indices,
// Dropout mask, BatchNormalization training statistics) are consumed.
func (l *lowerer) extraOutputsUnused(n *onnxNode) error {
	for i, o := range n.outputs[1:] {
		if o != "" && l.consumed[o] {
			return refuse(hintReexport, "output %d %q is used, but only the first output of %s is supported", i+1, o, n.op)
		}
	}
	return nil
}

// ---- ops ----

// spatial reads the window attributes shared by Conv and pooling and
// resolves auto_pad for input height h and width w.
func spatial(n *onnxNode, kernel []int, h, w int) (strides, pads, dil []int, err error) {
	strides, ok := n.attrInts("strides")
	if !ok {
		strides = []int{1, 1}
	}
	dil, ok = n.attrInts("dilations")
	if !ok {
		dil = []int{1, 1}
	}
	pads, ok = n.attrInts("pads")
	if !ok {
		pads = []int{0, 0, 0, 0}
	}
	if len(strides) != 2 || len(dil) != 2 || len(pads) != 4 {
		return nil, nil, nil, refuse("", "strides %v, dilations %v, pads %v: want 2, 2 and 4 values for a 2-D window", strides, dil, pads)
	}
	switch ap := n.attrString("auto_pad", "NOTSET"); ap {
	case "NOTSET", "":
	case "VALID":
		pads = []int{0, 0, 0, 0}
	case "SAME_UPPER", "SAME_LOWER":
		in := []int{h, w}
		for a := 0; a < 2; a++ {
			if strides[a] < 1 {
				return nil, nil, nil, refuse("", "stride %d must be positive", strides[a])
			}
			out := (in[a] + strides[a] - 1) / strides[a]
			total := max(0, (out-1)*strides[a]+(kernel[a]-1)*dil[a]+1-in[a])
			small, big := total/2, total-total/2
			if ap == "SAME_UPPER" {
				pads[a], pads[a+2] = small, big
			} else {
				pads[a], pads[a+2] = big, small
			}
		}
	default:
		return nil, nil, nil, refuse("", "auto_pad %q is not one of NOTSET, VALID, SAME_UPPER, SAME_LOWER", ap)
	}
	return strides, pads, dil, nil
}

func lowerConv(l *lowerer, n *onnxNode) error {
	x, xs, err := l.act(n, 0)
	if err != nil {
		return err
	}
	if len(xs) != 3 {
		return refuse("only 2-D convolutions on NCHW images are supported; reshape 1-D signals to [N, C, 1, L]", "Conv on a per-sample shape %v; want [C, H, W]", xs)
	}
	w, err := l.cst(n, 1, "weights")
	if err != nil {
		return err
	}
	if len(w.shape) != 4 {
		return refuse("", "weight shape %v; want [O, C/group, KH, KW]", w.shape)
	}
	if k, ok := n.attrInts("kernel_shape"); ok && (len(k) != 2 || k[0] != w.shape[2] || k[1] != w.shape[3]) {
		return refuse("", "kernel_shape %v disagrees with weight shape %v", k, w.shape)
	}
	strides, pads, dil, err := spatial(n, w.shape[2:], xs[1], xs[2])
	if err != nil {
		return err
	}
	inputs := []string{x, l.paramAsIs(n.in(1), w.shape)}
	if b, err := l.optCst(n, 2, "bias"); err != nil {
		return err
	} else if b != nil {
		inputs = append(inputs, l.paramAsIs(n.in(2), []int{b.numel()}))
	}
	return l.emitSimple(n, ann.OpConv, inputs, ann.Attrs{Strides: strides, Pads: pads, Dilations: dil, Group: int(n.attrInt("group", 1))})
}

// denseFrom emits a Dense node with W [Out, In] = scale·w (transposed when
// w is [In, Out]) and optional bias.
func (l *lowerer) denseFrom(n *onnxNode, x string, wName string, w *constTensor, transpose bool, scale float32, bias []float32) error {
	var out, in int
	var data []float32
	if transpose {
		in, out = w.shape[0], w.shape[1]
		data = make([]float32, out*in)
		for i := 0; i < in; i++ {
			for o := 0; o < out; o++ {
				data[o*in+i] = float32(w.data[i*out+o]) * scale
			}
		}
	} else {
		out, in = w.shape[0], w.shape[1]
		if scale == 1 {
			data = nil
		} else {
			data = w.float32s()
			for i := range data {
				data[i] *= scale
			}
		}
	}
	var wp string
	if data == nil {
		wp = l.paramAsIs(wName, []int{out, in})
	} else {
		wp = l.newParam(l.nodeNameBase(n)+"/W", []int{out, in}, data)
	}
	inputs := []string{x, wp}
	if bias != nil {
		if len(bias) != out {
			return refuse("", "bias has %d values, want %d", len(bias), out)
		}
		inputs = append(inputs, l.newParam(l.nodeNameBase(n)+"/B", []int{out}, bias))
	}
	return l.emitSimple(n, ann.OpDense, inputs, ann.Attrs{})
}

func (l *lowerer) nodeNameBase(n *onnxNode) string {
	if n.name != "" {
		return n.name
	}
	return fmt.Sprintf("%s_%d", n.op, n.index)
}

func lowerGemm(l *lowerer, n *onnxNode) error {
	if l.allConst(n) {
		return refuse(hintReexport, "Gemm of constants is not folded")
	}
	if !l.isAct(n.in(0)) {
		return refuse("put the activation in Gemm's first input (A) and the weights in B", "input A %q is a constant and B an activation", n.in(0))
	}
	x, xs, _ := l.act(n, 0)
	if n.attrInt("transA", 0) != 0 {
		return refuse(hintBatchAxis, "transA=1 transposes the activation, moving the batch axis")
	}
	if len(xs) != 1 {
		return refuse("flatten the input before Gemm", "Gemm input has per-sample shape %v; want [K]", xs)
	}
	b, err := l.cst(n, 1, "weights B")
	if err != nil {
		return err
	}
	if len(b.shape) != 2 {
		return refuse("", "weight shape %v; want 2-D", b.shape)
	}
	transB := n.attrInt("transB", 0) != 0
	k, out := b.shape[0], b.shape[1]
	if transB {
		k, out = b.shape[1], b.shape[0]
	}
	if k != xs[0] {
		return refuse("", "weights %v (transB=%v) expect %d inputs, activation has %d", b.shape, transB, k, xs[0])
	}
	alpha, beta := n.attrFloat("alpha", 1), n.attrFloat("beta", 1)
	var bias []float32
	c, err := l.optCst(n, 2, "bias C")
	if err != nil {
		return err
	}
	if c != nil {
		switch {
		case c.numel() == out && (len(c.shape) <= 1 || c.shape[len(c.shape)-1] == out):
			bias = c.float32s()
		case c.numel() == 1:
			bias = make([]float32, out)
			for i := range bias {
				bias[i] = float32(c.data[0])
			}
		default:
			return refuse("give Gemm a bias of shape [Out]", "bias C of shape %v does not broadcast per sample to [%d]", c.shape, out)
		}
		for i := range bias {
			bias[i] *= beta
		}
	}
	return l.denseFrom(n, x, n.in(1), b, !transB, alpha, bias)
}

func lowerMatMul(l *lowerer, n *onnxNode) error {
	if l.allConst(n) {
		return refuse(hintReexport, "MatMul of constants is not folded")
	}
	if !l.isAct(n.in(0)) {
		return refuse("put the activation in MatMul's first input", "input A %q is a constant and B an activation", n.in(0))
	}
	x, xs, _ := l.act(n, 0)
	b, err := l.cst(n, 1, "weights B")
	if err != nil {
		return err
	}
	if len(b.shape) != 2 {
		return refuse("", "weight shape %v; want [K, M]", b.shape)
	}
	if len(xs) == 0 || xs[len(xs)-1] != b.shape[0] {
		return refuse("", "activation per-sample shape %v does not match weights %v", xs, b.shape)
	}
	return l.denseFrom(n, x, n.in(1), b, true, 1, nil)
}

var binaryOps = map[string]ann.Op{"Add": ann.OpAdd, "Sub": ann.OpSub, "Mul": ann.OpMul, "Div": ann.OpDiv}

// perSampleConst turns a constant operand of an elementwise op into a Param
// with per-sample shape: a leading axis of 1 that lines up with the batch
// axis is dropped.
func (l *lowerer) perSampleConst(name string, c *constTensor, actRank int) (string, error) {
	full := actRank + 1
	shape := c.shape
	switch {
	case len(shape) > full:
		return "", refuse("", "constant %q of shape %v has more axes than the activation (%d with batch)", name, shape, full)
	case len(shape) == full:
		if shape[0] != 1 {
			return "", refuse(hintBatchAxis, "constant %q of shape %v has %d entries along the batch axis", name, shape, shape[0])
		}
		shape = shape[1:]
	}
	return l.paramAsIs(name, shape), nil
}

func lowerBinary(l *lowerer, n *onnxNode) error {
	if len(n.inputs) != 2 {
		return refuse("", "want 2 inputs, have %d", len(n.inputs))
	}
	a, b := n.in(0), n.in(1)
	if a == "" || b == "" {
		return refuse("", "an operand is missing")
	}
	if l.allConst(n) {
		c, err := foldElementwise(n.op, l.consts[a], l.consts[b])
		if err != nil {
			return refuse(hintReexport, "cannot fold: %v", err)
		}
		return l.setConst(n, c)
	}
	op, ok := binaryOps[n.op]
	if !ok {
		return refuse(unsupportedHint(n.op), "%s on activations is not supported", n.op)
	}
	inputs := []string{a, b}
	switch {
	case l.isAct(a) && l.isAct(b):
		if len(l.g.Shapes[a]) != len(l.g.Shapes[b]) {
			return refuse(hintBatchAxis, "operands of ranks %d and %d would broadcast the batch axis", len(l.g.Shapes[a])+1, len(l.g.Shapes[b])+1)
		}
	case l.isAct(a):
		p, err := l.perSampleConst(b, l.consts[b], len(l.g.Shapes[a]))
		if err != nil {
			return err
		}
		inputs[1] = p
	default:
		p, err := l.perSampleConst(a, l.consts[a], len(l.g.Shapes[b]))
		if err != nil {
			return err
		}
		inputs[0] = p
	}
	return l.emitSimple(n, op, inputs, ann.Attrs{})
}

var unaryOps = map[string]ann.Op{
	"Relu": ann.OpRelu, "Sigmoid": ann.OpSigmoid, "Tanh": ann.OpTanh, "LeakyRelu": ann.OpLeakyRelu,
	"Selu": ann.OpSelu, "Log": ann.OpLog, "Identity": ann.OpIdentity, "Dropout": ann.OpDropout,
}

func lowerUnary(l *lowerer, n *onnxNode) error {
	if err := l.extraOutputsUnused(n); err != nil {
		return err
	}
	x := n.in(0)
	if x == "" {
		return refuse("", "input 0 is missing")
	}
	if c := l.consts[x]; c != nil {
		if n.op == "Identity" || n.op == "Dropout" {
			return l.setConst(n, c)
		}
		f, err := foldUnary(n.op, c)
		if err != nil {
			return refuse(hintReexport, "%v", err)
		}
		return l.setConst(n, f)
	}
	op, ok := unaryOps[n.op]
	if !ok {
		return refuse(unsupportedHint(n.op), "%s on activations is not supported", n.op)
	}
	var attrs ann.Attrs
	switch n.op {
	case "LeakyRelu":
		attrs.Alpha = n.attrFloat("alpha", 0.01)
	case "Selu":
		attrs.Alpha = n.attrFloat("alpha", 1.67326319217681884765625)
		attrs.Gamma = n.attrFloat("gamma", 1.05070102214813232421875)
	case "Dropout":
		if n.opset < 7 && n.attrInt("is_test", 0) == 0 {
			l.warnings = append(l.warnings, fmt.Sprintf("Dropout %q is marked for training (is_test=0); treated as identity", n.displayName()))
		}
	}
	return l.emitSimple(n, op, []string{x}, attrs)
}

// scalar reads an optional scalar constant input.
func (l *lowerer) scalar(n *onnxNode, i int, what string) (float64, bool, error) {
	c, err := l.optCst(n, i, what)
	if err != nil || c == nil {
		return 0, false, err
	}
	if c.numel() != 1 {
		return 0, false, refuse("", "%s has shape %v; want a scalar", what, c.shape)
	}
	return c.data[0], true, nil
}

func lowerClip(l *lowerer, n *onnxNode) error {
	x, _, err := l.act(n, 0)
	if err != nil {
		if c := l.consts[n.in(0)]; c != nil {
			return refuse(hintReexport, "Clip of a constant is not folded")
		}
		return err
	}
	lo, hi := float32(math.Inf(-1)), float32(math.Inf(1))
	if n.opset < 11 {
		lo, hi = n.attrFloat("min", lo), n.attrFloat("max", hi)
	} else {
		if v, ok, err := l.scalar(n, 1, "min"); err != nil {
			return err
		} else if ok {
			lo = float32(v)
		}
		if v, ok, err := l.scalar(n, 2, "max"); err != nil {
			return err
		} else if ok {
			hi = float32(v)
		}
	}
	if lo > hi {
		return refuse("", "clip min %v exceeds max %v", lo, hi)
	}
	return l.emitSimple(n, ann.OpClip, []string{x}, ann.Attrs{Min: lo, Max: hi})
}

// lowerMinMax lowers Min/Max of one activation and scalar constants to Clip
// with the open side at ±Inf (the ReLU→Min→Max clamp of tf2onnx models).
func lowerMinMax(l *lowerer, n *onnxNode) error {
	if l.allConst(n) {
		acc := l.consts[n.in(0)]
		for _, in := range n.inputs[1:] {
			if in == "" {
				continue
			}
			var err error
			if acc, err = foldElementwise(n.op, acc, l.consts[in]); err != nil {
				return refuse(hintReexport, "cannot fold: %v", err)
			}
		}
		return l.setConst(n, acc)
	}
	var x string
	bound := math.Inf(1)
	if n.op == "Max" {
		bound = math.Inf(-1)
	}
	for _, in := range n.inputs {
		if in == "" {
			continue
		}
		if l.isAct(in) {
			if x != "" {
				return refuse("use Relu or Clip instead of an elementwise Min/Max of two activations", "%s of two activations (%q, %q) is not supported", n.op, x, in)
			}
			x = in
			continue
		}
		c := l.consts[in]
		if c.numel() != 1 {
			return refuse("use a scalar bound (a clamp)", "%s with constant %q of shape %v; only scalar bounds are supported", n.op, in, c.shape)
		}
		if n.op == "Min" {
			bound = math.Min(bound, c.data[0])
		} else {
			bound = math.Max(bound, c.data[0])
		}
	}
	attrs := ann.Attrs{Min: float32(math.Inf(-1)), Max: float32(math.Inf(1))}
	if n.op == "Min" {
		attrs.Max = float32(bound)
	} else {
		attrs.Min = float32(bound)
	}
	return l.emitSimple(n, ann.OpClip, []string{x}, attrs)
}

func lowerPool(l *lowerer, n *onnxNode) error {
	if err := l.extraOutputsUnused(n); err != nil {
		return err
	}
	x, xs, err := l.act(n, 0)
	if err != nil {
		return err
	}
	if len(xs) != 3 {
		return refuse("only 2-D pooling on NCHW images is supported", "%s on a per-sample shape %v; want [C, H, W]", n.op, xs)
	}
	k, ok := n.attrInts("kernel_shape")
	if !ok || len(k) != 2 {
		return refuse("", "kernel_shape %v; want 2 values", k)
	}
	if k[0] < 1 || k[1] < 1 {
		return refuse("", "kernel_shape %v must be positive", k)
	}
	strides, pads, dil, err := spatial(n, k, xs[1], xs[2])
	if err != nil {
		return err
	}
	attrs := ann.Attrs{Kernel: k, Strides: strides, Pads: pads, Dilations: dil, CeilMode: n.attrInt("ceil_mode", 0) != 0}
	op := ann.OpMaxPool
	if n.op == "AveragePool" {
		op = ann.OpAveragePool
		attrs.CountIncludePad = n.attrInt("count_include_pad", 0) != 0
	}
	return l.emitSimple(n, op, []string{x}, attrs)
}

func lowerGlobalPool(l *lowerer, n *onnxNode) error {
	x, xs, err := l.act(n, 0)
	if err != nil {
		return err
	}
	if n.op == "GlobalAveragePool" {
		return l.emitSimple(n, ann.OpGlobalAveragePool, []string{x}, ann.Attrs{})
	}
	if len(xs) != 3 {
		return refuse("", "GlobalMaxPool on a per-sample shape %v; want [C, H, W]", xs)
	}
	return l.emitSimple(n, ann.OpMaxPool, []string{x}, ann.Attrs{Kernel: []int{xs[1], xs[2]}})
}

func lowerBatchNorm(l *lowerer, n *onnxNode) error {
	if err := l.extraOutputsUnused(n); err != nil {
		return err
	}
	x, xs, err := l.act(n, 0)
	if err != nil {
		return err
	}
	if len(xs) == 0 {
		return refuse("", "BatchNormalization of a per-sample scalar")
	}
	if n.opset < 9 && n.attrInt("spatial", 1) == 0 {
		return refuse(hintReexport, "spatial=0 (per-activation statistics) is not supported")
	}
	if n.attrInt("training_mode", 0) != 0 {
		return refuse("export the model in eval mode (model.eval())", "training_mode=1 normalizes with batch statistics")
	}
	inputs := []string{x}
	for i, what := range []string{"scale", "bias", "mean", "var"} {
		c, err := l.cst(n, i+1, what)
		if err != nil {
			return err
		}
		if c.numel() != xs[0] {
			return refuse("", "%s has %d values for %d channels", what, c.numel(), xs[0])
		}
		inputs = append(inputs, l.paramAsIs(n.in(i+1), []int{xs[0]}))
	}
	return l.emitSimple(n, ann.OpBatchNorm, inputs, ann.Attrs{Epsilon: n.attrFloat("epsilon", 1e-5)})
}

func lowerFlatten(l *lowerer, n *onnxNode) error {
	axis := int(n.attrInt("axis", 1))
	if c := l.consts[n.in(0)]; c != nil {
		ax := axis
		if ax < 0 {
			ax += len(c.shape)
		}
		if ax < 0 || ax > len(c.shape) {
			return refuse("", "axis %d out of range for shape %v", axis, c.shape)
		}
		return l.setConst(n, c.withShape([]int{numelOf(c.shape[:ax]), numelOf(c.shape[ax:])}))
	}
	x, xs, err := l.act(n, 0)
	if err != nil {
		return err
	}
	full := len(xs) + 1
	if axis < 0 {
		axis += full
	}
	switch {
	case axis < 0 || axis > full:
		return refuse("", "axis %d out of range for rank %d", axis, full)
	case axis == 0:
		return refuse(hintBatchAxis, "Flatten with axis=0 merges the batch into one row")
	case axis == 1:
		return l.emitSimple(n, ann.OpFlatten, []string{x}, ann.Attrs{})
	case numelOf(xs[:axis-1]) == 1:
		return l.emitSimple(n, ann.OpReshape, []string{x}, ann.Attrs{Shape: []int{numelOf(xs[axis-1:])}})
	}
	return refuse(hintBatchAxis, "Flatten with axis=%d on per-sample shape %v merges samples", axis, xs)
}

func (l *lowerer) reshapeTarget(n *onnxNode) (*constTensor, error) {
	if n.opset < 5 {
		s, ok := n.attrInts("shape")
		if !ok {
			return nil, refuse("", "shape attribute missing")
		}
		c := &constTensor{shape: []int{len(s)}, isInt: true}
		for _, v := range s {
			c.data = append(c.data, float64(v))
		}
		return c, nil
	}
	return l.cst(n, 1, "shape")
}

func lowerReshape(l *lowerer, n *onnxNode) error {
	t, err := l.reshapeTarget(n)
	if err != nil {
		return err
	}
	target, err := t.ints()
	if err != nil {
		return refuse("", "shape: %v", err)
	}
	allowZero := n.attrInt("allowzero", 0) != 0
	if c := l.consts[n.in(0)]; c != nil {
		if t.hasBatch() {
			return refuse(hintConstWeights, "reshaping a constant to a shape that depends on the batch size")
		}
		out, err := resolveReshape(c.shape, target, allowZero)
		if err != nil {
			return refuse("", "%v", err)
		}
		return l.setConst(n, c.withShape(out))
	}
	x, xs, err := l.act(n, 0)
	if err != nil {
		return err
	}
	if len(target) == 0 {
		return refuse(hintBatchAxis, "reshape to a scalar removes the batch axis")
	}
	mark := make([]bool, len(target))
	copy(mark, t.batch)
	for i, d := range target {
		if d == 0 && !allowZero {
			if i == 0 {
				mark[0] = true
				continue
			}
			if i-1 >= len(xs) {
				return refuse("", "shape %v copies axis %d of a rank-%d input", target, i, len(xs)+1)
			}
			target[i] = xs[i-1]
		}
	}
	for i := 1; i < len(mark); i++ {
		if mark[i] {
			return refuse(hintBatchAxis, "shape %v moves the batch size to axis %d", target, i)
		}
	}
	rest := append([]int{}, target[1:]...)
	neg := -1
	known := 1
	for i, d := range rest {
		switch {
		case d == -1 && neg < 0:
			neg = i
		case d <= 0:
			return refuse("", "shape %v has an invalid entry %d", target, d)
		default:
			known *= d
		}
	}
	per := numelOf(xs)
	switch {
	case mark[0], target[0] == -1 && neg < 0:
	case target[0] == -1:
		return refuse(hintBatchAxis, "shape %v leaves both the batch axis and a sample axis open", target)
	case l.fixedBatch > 0 && target[0] == l.fixedBatch:
	case l.fixedBatch == 0:
		l.warnings = append(l.warnings, fmt.Sprintf("Reshape %q states the batch size %d literally; read as per-sample shape %v at any batch size", n.displayName(), target[0], rest))
	default:
		return refuse(hintBatchAxis, "shape %v does not keep the batch axis (exported batch %d) first", target, l.fixedBatch)
	}
	if neg >= 0 {
		if known == 0 || per%known != 0 {
			return refuse("", "cannot reshape per-sample %v to %v", xs, target)
		}
		rest[neg] = per / known
	} else if known != per {
		return refuse(hintBatchAxis, "reshape of per-sample %v (%d values) to %v would mix samples", xs, per, target)
	}
	return l.emitSimple(n, ann.OpReshape, []string{x}, ann.Attrs{Shape: rest})
}

func lowerTranspose(l *lowerer, n *onnxNode) error {
	perm, hasPerm := n.attrInts("perm")
	if c := l.consts[n.in(0)]; c != nil {
		f, err := foldTranspose(c, perm)
		if err != nil {
			return refuse("", "%v", err)
		}
		return l.setConst(n, f)
	}
	x, xs, err := l.act(n, 0)
	if err != nil {
		return err
	}
	if !hasPerm {
		for i := len(xs); i >= 0; i-- {
			perm = append(perm, i)
		}
	}
	if len(perm) != len(xs)+1 || perm[0] != 0 {
		return refuse(hintBatchAxis, "perm %v moves the batch axis", perm)
	}
	ps := make([]int, len(xs))
	for i, p := range perm[1:] {
		ps[i] = p - 1
	}
	return l.emitSimple(n, ann.OpTranspose, []string{x}, ann.Attrs{Perm: ps})
}

func (l *lowerer) axesOf(n *onnxNode) ([]int, bool, error) {
	if n.opset < 13 {
		a, ok := n.attrInts("axes")
		return a, ok, nil
	}
	c, err := l.optCst(n, 1, "axes")
	if err != nil || c == nil {
		return nil, false, err
	}
	a, err := c.ints()
	if err != nil {
		return nil, false, refuse("", "axes: %v", err)
	}
	return a, true, nil
}

func lowerSqueeze(l *lowerer, n *onnxNode) error {
	axes, has, err := l.axesOf(n)
	if err != nil {
		return err
	}
	squeeze := n.op == "Squeeze"
	if !squeeze && !has {
		return refuse("", "Unsqueeze without axes")
	}
	if c := l.consts[n.in(0)]; c != nil {
		var out []int
		if squeeze {
			if !has {
				axes = nil
			}
			out, err = squeezeShape(c.shape, axes)
		} else {
			out, err = unsqueezeShape(c.shape, axes)
		}
		if err != nil {
			return refuse("", "%v", err)
		}
		return l.setConst(n, c.withShape(out))
	}
	x, xs, err := l.act(n, 0)
	if err != nil {
		return err
	}
	var out []int
	if squeeze {
		var per []int
		if has {
			norm, err := normAxes(axes, len(xs)+1)
			if err != nil {
				return refuse("", "%v", err)
			}
			for _, a := range norm {
				if a == 0 {
					return refuse(hintBatchAxis, "Squeeze of axis 0 removes the batch axis")
				}
				per = append(per, a-1)
			}
		}
		out, err = squeezeShape(xs, per)
	} else {
		norm, err := normAxes(axes, len(xs)+1+len(axes))
		if err != nil {
			return refuse("", "%v", err)
		}
		per := make([]int, len(norm))
		for i, a := range norm {
			if a == 0 {
				return refuse(hintBatchAxis, "Unsqueeze at axis 0 puts a new axis before the batch axis")
			}
			per[i] = a - 1
		}
		out, err = unsqueezeShape(xs, per)
	}
	if err != nil {
		return refuse("", "%v", err)
	}
	if out == nil {
		out = []int{}
	}
	return l.emitSimple(n, ann.OpReshape, []string{x}, ann.Attrs{Shape: out})
}

func lowerConcat(l *lowerer, n *onnxNode) error {
	if !n.hasAttr("axis") && n.opset >= 4 {
		return refuse("", "axis attribute missing")
	}
	axis := int(n.attrInt("axis", 1))
	var ins []string
	for _, in := range n.inputs {
		if in != "" {
			ins = append(ins, in)
		}
	}
	if len(ins) == 0 {
		return refuse("", "Concat without inputs")
	}
	if l.allConst(n) {
		parts := make([]*constTensor, len(ins))
		for i, in := range ins {
			parts[i] = l.consts[in]
		}
		c, err := foldConcat(parts, axis)
		if err != nil {
			return refuse("", "%v", err)
		}
		return l.setConst(n, c)
	}
	for _, in := range ins {
		if !l.isAct(in) {
			return refuse(hintReexport, "Concat of activations with constant %q is not supported", in)
		}
	}
	full := len(l.g.Shapes[ins[0]]) + 1
	ax, err := normAxis(axis, full)
	if err != nil {
		return refuse("", "%v", err)
	}
	if ax == 0 {
		return refuse(hintBatchAxis, "Concat along axis 0 joins samples")
	}
	return l.emitSimple(n, ann.OpConcat, ins, ann.Attrs{Axis: ax - 1})
}

func lowerPad(l *lowerer, n *onnxNode) error {
	x, xs, err := l.act(n, 0)
	if err != nil {
		return err
	}
	full := len(xs) + 1
	var pads []int
	value := float32(0)
	if n.opset < 11 {
		var ok bool
		if pads, ok = n.attrInts("pads"); !ok {
			pads, _ = n.attrInts("paddings")
		}
		value = n.attrFloat("value", 0)
	} else {
		c, err := l.cst(n, 1, "pads")
		if err != nil {
			return err
		}
		if pads, err = c.ints(); err != nil {
			return refuse("", "pads: %v", err)
		}
		if v, ok, err := l.scalar(n, 2, "constant_value"); err != nil {
			return err
		} else if ok {
			value = float32(v)
		}
		if a, err := l.optCst(n, 3, "axes"); err != nil {
			return err
		} else if a != nil {
			axes, err := a.ints()
			if err != nil || 2*len(axes) != len(pads) {
				return refuse("", "axes %v do not match pads %v", a.data, pads)
			}
			fullPads := make([]int, 2*full)
			for i, ax := range axes {
				axn, err := normAxis(ax, full)
				if err != nil {
					return refuse("", "%v", err)
				}
				fullPads[axn], fullPads[axn+full] = pads[i], pads[i+len(axes)]
			}
			pads = fullPads
		}
	}
	if len(pads) != 2*full {
		return refuse("", "pads %v: want %d values for rank %d", pads, 2*full, full)
	}
	if pads[0] != 0 || pads[full] != 0 {
		return refuse(hintBatchAxis, "pads %v pad the batch axis", pads)
	}
	per := append(append([]int{}, pads[1:full]...), pads[full+1:]...)
	nonzero := false
	for _, p := range per {
		if p < 0 {
			return refuse("crop with Slice before export, or remove the crop", "negative pads %v (cropping) are not supported", pads)
		}
		nonzero = nonzero || p != 0
	}
	if mode := n.attrString("mode", "constant"); mode != "constant" && nonzero {
		return refuse("use zero (constant) padding", "pad mode %q is not supported", mode)
	}
	return l.emitSimple(n, ann.OpPad, []string{x}, ann.Attrs{Pads: per, Value: value})
}

func lowerSoftmax(l *lowerer, n *onnxNode) error {
	x, xs, err := l.act(n, 0)
	if err != nil {
		return err
	}
	op := ann.OpSoftmax
	if n.op == "LogSoftmax" {
		op = ann.OpLogSoftmax
	}
	full := len(xs) + 1
	if n.opset >= 13 {
		ax, err := normAxis(int(n.attrInt("axis", -1)), full)
		if err != nil {
			return refuse("", "%v", err)
		}
		if ax == 0 {
			return refuse(hintBatchAxis, "%s over the batch axis", n.op)
		}
		return l.emitSimple(n, op, []string{x}, ann.Attrs{Axis: ax - 1})
	}
	// Before opset 13 the input is coerced to 2-D at axis: the op normalizes
	// over all axes from axis on.
	ax, err := normAxis(int(n.attrInt("axis", 1)), full)
	if err != nil {
		return refuse("", "%v", err)
	}
	if ax == 0 {
		return refuse(hintBatchAxis, "%s over the batch axis", n.op)
	}
	if ax == full-1 {
		return l.emitSimple(n, op, []string{x}, ann.Attrs{Axis: ax - 1})
	}
	// Normalize over several trailing axes: flatten them, apply, restore.
	lead := xs[:ax-1]
	flat := append(append([]int{}, lead...), numelOf(xs[ax-1:]))
	mid := l.unique(n.outputs[0]+"/flat", l.values)
	if err := l.emit(&ann.Node{Name: l.nodeName(n, "/flatten"), Op: ann.OpReshape, Inputs: []string{x}, Outputs: []string{mid}, Attrs: ann.Attrs{Shape: flat}, Source: n.op}); err != nil {
		return err
	}
	mid2 := l.unique(n.outputs[0]+"/norm", l.values)
	if err := l.emit(&ann.Node{Name: l.nodeName(n, ""), Op: op, Inputs: []string{mid}, Outputs: []string{mid2}, Attrs: ann.Attrs{Axis: len(flat) - 1}, Source: n.op}); err != nil {
		return err
	}
	return l.emit(&ann.Node{Name: l.nodeName(n, "/restore"), Op: ann.OpReshape, Inputs: []string{mid2}, Outputs: []string{n.outputs[0]}, Attrs: ann.Attrs{Shape: append([]int{}, xs...)}, Source: n.op})
}

func lowerArgMax(l *lowerer, n *onnxNode) error {
	x, xs, err := l.act(n, 0)
	if err != nil {
		return err
	}
	if n.attrInt("select_last_index", 0) != 0 {
		return refuse("export with select_last_index=0", "select_last_index=1 (ties to the last index) is not supported")
	}
	ax, err := normAxis(int(n.attrInt("axis", 0)), len(xs)+1)
	if err != nil {
		return refuse("", "%v", err)
	}
	if ax == 0 {
		return refuse(hintBatchAxis, "ArgMax over the batch axis")
	}
	return l.emitSimple(n, ann.OpArgMax, []string{x}, ann.Attrs{Axis: ax - 1, KeepDims: n.attrInt("keepdims", 1) != 0})
}

func lowerCast(l *lowerer, n *onnxNode) error {
	to := int32(n.attrInt("to", 0))
	if s := n.attrString("to", ""); s != "" {
		// Opset 1–5 named the type with a string.
		for k, v := range map[string]int32{"FLOAT": dtFloat, "DOUBLE": dtDouble, "FLOAT16": dtFloat16, "INT64": dtInt64, "INT32": dtInt32, "UINT8": dtUint8, "INT8": dtInt8, "BOOL": dtBool} {
			if s == k {
				to = v
			}
		}
	}
	if c := l.consts[n.in(0)]; c != nil {
		f, err := foldCast(c, to)
		if err != nil {
			return refuse("", "%v", err)
		}
		return l.setConst(n, f)
	}
	x, _, err := l.act(n, 0)
	if err != nil {
		return err
	}
	switch to {
	case dtFloat, dtDouble, dtFloat16, dtBfloat16:
	case dtInt8, dtUint8, dtInt16, dtUint16, dtInt32, dtUint32, dtInt64, dtUint64:
		if !l.integral[x] {
			return refuse("remove the Cast, or cast only integer inputs or ArgMax indices", "Cast of a float activation to %s would truncate it", dtypeName(to))
		}
	default:
		return refuse("", "Cast to %s is not supported", dtypeName(to))
	}
	return l.emitSimple(n, ann.OpCast, []string{x}, ann.Attrs{})
}

func lowerConstant(l *lowerer, n *onnxNode) error {
	if c, ok, err := n.attrTensor("value"); err != nil {
		return refuse("", "%v", err)
	} else if ok {
		return l.setConst(n, c)
	}
	if n.hasAttr("value_float") {
		return l.setConst(n, &constTensor{shape: []int{}, data: []float64{float64(n.attrFloat("value_float", 0))}})
	}
	if v, ok := n.attrs["value_floats"].([]float32); ok {
		c := &constTensor{shape: []int{len(v)}}
		for _, f := range v {
			c.data = append(c.data, float64(f))
		}
		return l.setConst(n, c)
	}
	if n.hasAttr("value_int") {
		return l.setConst(n, &constTensor{shape: []int{}, data: []float64{float64(n.attrInt("value_int", 0))}, isInt: true})
	}
	if v, ok := n.attrInts("value_ints"); ok {
		c := &constTensor{shape: []int{len(v)}, isInt: true}
		for _, f := range v {
			c.data = append(c.data, float64(f))
		}
		return l.setConst(n, c)
	}
	return refuse(hintReexport, "Constant without a supported value attribute (value, value_float(s), value_int(s))")
}

func lowerConstantOfShape(l *lowerer, n *onnxNode) error {
	s, err := l.cst(n, 0, "shape")
	if err != nil {
		return err
	}
	if s.hasBatch() {
		return refuse(hintReexport, "ConstantOfShape with a shape that depends on the batch size")
	}
	shape, err := s.ints()
	if err != nil {
		return refuse("", "shape: %v", err)
	}
	num := 1
	for _, d := range shape {
		if d < 0 || d > maxFolded || (d > 0 && num > maxFolded/d) {
			return refuse("", "shape %v is too large or negative", shape)
		}
		num *= d
	}
	val := &constTensor{data: []float64{0}}
	if v, ok, err := n.attrTensor("value"); err != nil {
		return refuse("", "%v", err)
	} else if ok && v.numel() == 1 {
		val = v
	}
	c := &constTensor{shape: shape, data: make([]float64, num), isInt: val.isInt}
	for i := range c.data {
		c.data[i] = val.data[0]
	}
	return l.setConst(n, c)
}

func lowerShape(l *lowerer, n *onnxNode) error {
	x := n.in(0)
	var c *constTensor
	if k := l.consts[x]; k != nil {
		c = &constTensor{shape: []int{len(k.shape)}, isInt: true}
		for _, d := range k.shape {
			c.data = append(c.data, float64(d))
		}
	} else {
		xs := l.g.Shapes[x]
		c = &constTensor{shape: []int{len(xs) + 1}, isInt: true, batch: make([]bool, len(xs)+1)}
		c.data = append(c.data, float64(max(l.fixedBatch, 1)))
		c.batch[0] = true
		for _, d := range xs {
			c.data = append(c.data, float64(d))
		}
	}
	r := c.shape[0]
	start, end := int(n.attrInt("start", 0)), int(n.attrInt("end", int64(r)))
	if start < 0 {
		start += r
	}
	if end < 0 {
		end += r
	}
	start, end = max(0, min(start, r)), max(0, min(end, r))
	if end < start {
		end = start
	}
	if start != 0 || end != r {
		var err error
		if c, err = foldSlice(c, []int{start}, []int{end}, nil, nil); err != nil {
			return refuse("", "%v", err)
		}
	}
	return l.setConst(n, c)
}

func lowerGather(l *lowerer, n *onnxNode) error {
	if n.in(1) == "" {
		return refuse("", "Gather without indices")
	}
	if !l.allConst(n) {
		return refuse(hintReexport, "Gather on activations is not supported (only on constants and shapes)")
	}
	c, err := foldGather(l.consts[n.in(0)], l.consts[n.in(1)], int(n.attrInt("axis", 0)))
	if err != nil {
		return refuse("", "%v", err)
	}
	return l.setConst(n, c)
}

func lowerSlice(l *lowerer, n *onnxNode) error {
	data := l.consts[n.in(0)]
	if data == nil {
		return refuse(hintReexport, "Slice of an activation is not supported (only of constants and shapes)")
	}
	var starts, ends, axes, steps []int
	if n.opset < 10 {
		starts, _ = n.attrInts("starts")
		ends, _ = n.attrInts("ends")
		axes, _ = n.attrInts("axes")
	} else {
		for i, dst := range []*[]int{&starts, &ends, &axes, &steps} {
			c, err := l.optCst(n, i+1, []string{"starts", "ends", "axes", "steps"}[i])
			if err != nil {
				return err
			}
			if c == nil {
				continue
			}
			v, err := c.ints()
			if err != nil {
				return refuse("", "%v", err)
			}
			*dst = v
		}
	}
	// INT64_MAX/MIN as "to the end" arrive rounded through float64; clamp
	// (steps too, so that index arithmetic cannot overflow).
	for _, s := range [][]int{starts, ends, steps} {
		for i, v := range s {
			s[i] = max(min(v, math.MaxInt32), math.MinInt32)
		}
	}
	c, err := foldSlice(data, starts, ends, axes, steps)
	if err != nil {
		return refuse("", "%v", err)
	}
	return l.setConst(n, c)
}
