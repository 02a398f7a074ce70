package importer

import (
	"fmt"
	"sort"

	onnx "github.com/owulveryck/onnx-go"
	"gonum.org/v1/gonum/graph"
	"gonum.org/v1/gonum/graph/iterator"
	"gorgonia.org/tensor"
)

// recorder is the onnx-go Backend this package decodes through. onnx-go
// announces every value as a node, every operand as a weighted edge from the
// op's output to the operand (weight = operand index) and then calls
// ApplyOperation. A simple graph would merge the two edges of Add(x, x), so
// the recorder keeps edges in the order it receives them instead of relying
// on adjacency.
type recorder struct {
	nodes   map[int64]*recNode
	order   []*recNode
	nextID  int64
	pending []*recEdge
	ops     []recOp
}

type recNode struct {
	id   int64
	name string
	t    tensor.Tensor
}

func (n *recNode) ID() int64                       { return n.id }
func (n *recNode) SetName(s string)                { n.name = s }
func (n *recNode) GetName() string                 { return n.name }
func (n *recNode) SetTensor(t tensor.Tensor) error { n.t = t; return nil }
func (n *recNode) GetTensor() tensor.Tensor        { return n.t }

type recEdge struct {
	from, to *recNode
	w        float64
}

func (e *recEdge) From() graph.Node         { return e.from }
func (e *recEdge) To() graph.Node           { return e.to }
func (e *recEdge) ReversedEdge() graph.Edge { return &recEdge{e.to, e.from, e.w} }
func (e *recEdge) Weight() float64          { return e.w }

// recOp is one ApplyOperation call with its operands in index order.
type recOp struct {
	opType  string
	attrs   map[string]interface{}
	inputs  []string
	outputs []string
}

func newRecorder() *recorder { return &recorder{nodes: map[int64]*recNode{}} }

func (r *recorder) NewNode() graph.Node {
	n := &recNode{id: r.nextID}
	r.nextID++
	return n
}

func (r *recorder) AddNode(n graph.Node) {
	rn, ok := n.(*recNode)
	if !ok {
		return
	}
	if _, dup := r.nodes[rn.id]; dup {
		return
	}
	r.nodes[rn.id] = rn
	r.order = append(r.order, rn)
}

func (r *recorder) NewWeightedEdge(from, to graph.Node, w float64) graph.WeightedEdge {
	f, _ := from.(*recNode)
	t, _ := to.(*recNode)
	return &recEdge{f, t, w}
}

func (r *recorder) SetWeightedEdge(e graph.WeightedEdge) {
	if re, ok := e.(*recEdge); ok && re.from != nil && re.to != nil {
		r.pending = append(r.pending, re)
	}
}

func (r *recorder) ApplyOperation(op onnx.Operation, outs ...graph.Node) error {
	rec := recOp{opType: op.Name, attrs: op.Attributes}
	var first *recNode
	for i, o := range outs {
		rn, ok := o.(*recNode)
		if !ok {
			return fmt.Errorf("operation %s: output %d is not a recorder node", op.Name, i)
		}
		if i == 0 {
			first = rn
		}
		rec.outputs = append(rec.outputs, rn.name)
	}
	// onnx-go repeats the operand edges once per output; the first output's
	// copy is the operand list.
	var edges []*recEdge
	for _, e := range r.pending {
		if e.from == first {
			edges = append(edges, e)
		}
	}
	sort.SliceStable(edges, func(i, j int) bool { return edges[i].w < edges[j].w })
	for _, e := range edges {
		rec.inputs = append(rec.inputs, e.to.name)
	}
	r.pending = r.pending[:0]
	r.ops = append(r.ops, rec)
	return nil
}

// The graph.Directed methods below are required by the Backend interface;
// onnx-go's decoder does not query topology, and the importer reads the
// recorded operations instead.

func (r *recorder) Node(id int64) graph.Node {
	if n, ok := r.nodes[id]; ok {
		return n
	}
	return nil
}

func (r *recorder) Nodes() graph.Nodes {
	ns := make([]graph.Node, len(r.order))
	for i, n := range r.order {
		ns[i] = n
	}
	return iterator.NewOrderedNodes(ns)
}

func (r *recorder) From(id int64) graph.Nodes          { return iterator.NewOrderedNodes(nil) }
func (r *recorder) To(id int64) graph.Nodes            { return iterator.NewOrderedNodes(nil) }
func (r *recorder) HasEdgeBetween(xid, yid int64) bool { return false }
func (r *recorder) HasEdgeFromTo(uid, vid int64) bool  { return false }
func (r *recorder) Edge(uid, vid int64) graph.Edge     { return nil }
func (r *recorder) tensorByName() map[string]tensor.Tensor {
	m := map[string]tensor.Tensor{}
	for _, n := range r.order {
		if n.t != nil {
			m[n.name] = n.t
		}
	}
	return m
}

// fromGorgonia converts a decoded onnx-go tensor to a constTensor.
func fromGorgonia(t tensor.Tensor) (*constTensor, error) {
	shape := []int(t.Shape())
	c := &constTensor{shape: append([]int{}, shape...)}
	switch d := t.Data().(type) {
	case []float32:
		c.data = make([]float64, len(d))
		for i, v := range d {
			c.data[i] = float64(v)
		}
	case float32:
		c.data = []float64{float64(d)}
	case []int64:
		c.isInt = true
		c.data = make([]float64, len(d))
		for i, v := range d {
			c.data[i] = float64(v)
		}
	case int64:
		c.isInt = true
		c.data = []float64{float64(d)}
	default:
		return nil, fmt.Errorf("unexpected tensor element type %T from onnx-go", d)
	}
	if n := numelOf(c.shape); n != len(c.data) {
		return nil, fmt.Errorf("onnx-go returned shape %v with %d values", c.shape, len(c.data))
	}
	return c, nil
}

func numelOf(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}
