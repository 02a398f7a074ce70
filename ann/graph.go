// Package ann holds the analog (ANN) graph that the importer produces and the
// converter rewrites, and a fast pure-Go executor for it.
//
// In: an *ann.Graph built by package importer (or by hand in tests).
// Out: activations of every value for a batch of inputs (calibration data for
// package normalize, the reference that the SNN is compared with in package eval).
//
// Conventions fixed for every package that touches a Graph:
//   - Activations are float32, row-major, with a leading batch axis that is
//     always free: Graph.Shapes and every shape attribute below are per-sample
//     shapes (batch axis excluded). Images are NCHW, so a per-sample image shape
//     is [C, H, W].
//   - Nodes are kept in topological order (Graph.TopoSort restores it).
//   - A node's Inputs name either an activation (a graph input or another
//     node's output) or a constant in Graph.Params. Optional inputs that are
//     absent are "".
//   - Ops are a small canonical set (the Op constants); the importer lowers
//     every ONNX op it accepts to these, and records the ONNX op it came from in
//     Node.Source.
package ann

import (
	"fmt"
	"sort"
)

// Op is a canonical ANN operation.
type Op string

// The canonical op set. Attribute use is documented per op; weights are named
// Params referenced from Inputs.
const (
	// OpConv: Inputs [x, W, B?]; W [O, C/Group, KH, KW]; B [O].
	// Attrs: Strides[2], Pads[4] (top, left, bottom, right), Dilations[2], Group.
	OpConv Op = "Conv"
	// OpDense: Inputs [x, W, B?]; x [In]; W [Out, In]; B [Out]; y = W·x + B.
	OpDense Op = "Dense"
	// Elementwise binary ops with numpy broadcasting over per-sample shapes.
	// Either input may be a Param (its shape is then per-sample too, already
	// stripped of a leading batch dim of 1 by the importer) or an activation.
	OpAdd Op = "Add"
	OpSub Op = "Sub"
	OpMul Op = "Mul"
	OpDiv Op = "Div"
	// Elementwise unary ops.
	OpRelu      Op = "Relu"
	OpClip      Op = "Clip"      // Attrs: Min, Max (use ±Inf for an open side)
	OpLeakyRelu Op = "LeakyRelu" // Attrs: Alpha
	OpSigmoid   Op = "Sigmoid"
	OpTanh      Op = "Tanh"
	OpSelu      Op = "Selu" // Attrs: Alpha, Gamma
	OpLog       Op = "Log"
	OpIdentity  Op = "Identity"
	OpDropout   Op = "Dropout" // inference: identity; kept so convert can report its removal
	OpCast      Op = "Cast"    // to float32: identity on float32 activations
	// Pooling over [C, H, W]. Attrs: Kernel[2], Strides[2], Pads[4], Dilations[2],
	// CeilMode; AveragePool also CountIncludePad. MaxPool pads with -Inf.
	OpMaxPool           Op = "MaxPool"
	OpAveragePool       Op = "AveragePool"
	OpGlobalAveragePool Op = "GlobalAveragePool" // [C,H,W] -> [C,1,1]
	// OpBatchNorm: Inputs [x, scale, bias, mean, var]; normalizes axis 0 of the
	// per-sample shape (channel). Attrs: Epsilon.
	OpBatchNorm Op = "BatchNormalization"
	// Layout ops; all act on per-sample shapes.
	OpFlatten   Op = "Flatten"   // -> [prod(shape)]
	OpReshape   Op = "Reshape"   // Attrs: Shape (per-sample, fully resolved, no 0 or -1)
	OpTranspose Op = "Transpose" // Attrs: Perm (per-sample axes)
	OpConcat    Op = "Concat"    // Attrs: Axis (per-sample axis)
	OpPad       Op = "Pad"       // Attrs: Pads (per-sample, ONNX order: begins then ends), Value
	// Heads: kept by the importer, stripped by convert.
	OpSoftmax    Op = "Softmax"    // Attrs: Axis (per-sample axis)
	OpLogSoftmax Op = "LogSoftmax" // Attrs: Axis
	OpArgMax     Op = "ArgMax"     // Attrs: Axis, KeepDims; output holds the index as float32
	// Produced by convert passes, never by the importer.
	OpClippedRelu Op = "ClippedRelu" // min(max(x, 0), Attrs.Max)
	OpAffine      Op = "Affine"      // Inputs [x, scale, bias]; per-channel (axis 0) y = scale·x + bias
)

// Tensor is a dense float32 array in row-major order.
type Tensor struct {
	Shape []int
	Data  []float32
}

// NewTensor allocates a zero tensor of the given shape.
func NewTensor(shape ...int) *Tensor {
	return &Tensor{Shape: append([]int(nil), shape...), Data: make([]float32, Numel(shape))}
}

// Clone returns a deep copy.
func (t *Tensor) Clone() *Tensor {
	return &Tensor{Shape: append([]int(nil), t.Shape...), Data: append([]float32(nil), t.Data...)}
}

// Numel is the number of elements of a shape (1 for a scalar).
func Numel(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// Attrs holds every attribute a canonical op may use; each op documents which.
type Attrs struct {
	Kernel          []int   `json:"kernel,omitempty"`
	Strides         []int   `json:"strides,omitempty"`
	Pads            []int   `json:"pads,omitempty"`
	Dilations       []int   `json:"dilations,omitempty"`
	Group           int     `json:"group,omitempty"`
	CeilMode        bool    `json:"ceil_mode,omitempty"`
	CountIncludePad bool    `json:"count_include_pad,omitempty"`
	Axis            int     `json:"axis,omitempty"`
	KeepDims        bool    `json:"keepdims,omitempty"`
	Perm            []int   `json:"perm,omitempty"`
	Shape           []int   `json:"shape,omitempty"`
	Min             float32 `json:"min,omitempty"`
	Max             float32 `json:"max,omitempty"`
	Alpha           float32 `json:"alpha,omitempty"`
	Gamma           float32 `json:"gamma,omitempty"`
	Epsilon         float32 `json:"epsilon,omitempty"`
	Value           float32 `json:"value,omitempty"`
}

// Node is one operation of the graph.
type Node struct {
	Name    string
	Op      Op
	Inputs  []string
	Outputs []string
	Attrs   Attrs
	// Source is the ONNX op type(s) the node was lowered from, e.g. "Gemm" or
	// "MatMul+Add"; informational (inspect, conversion reports).
	Source string
}

// Value is a graph input: its name, per-sample shape and how it is fed.
type Value struct {
	Name  string
	Shape []int
	// DType is the element type the source model declares ("float32", "uint8", ...);
	// the executor always runs float32, DType tells loaders what range to feed.
	DType string
	// FixedBatch is the batch size hard-coded in the source model (0 when the
	// batch axis was symbolic). Informational: the executor runs any batch size.
	FixedBatch int
}

// ModelInfo is what the importer read from the ONNX header.
type ModelInfo struct {
	Producer        string
	ProducerVersion string
	IRVersion       int64
	Opsets          map[string]int64 // domain ("" = ai.onnx) -> version
	DocString       string
	// Warnings the importer wants users to see (e.g. an extra graph input ignored).
	Warnings []string
}

// Graph is an ANN in canonical form.
type Graph struct {
	Name    string
	Inputs  []Value
	Outputs []string
	Nodes   []*Node
	Params  map[string]*Tensor
	// Shapes holds the per-sample shape of every activation value (graph inputs
	// and node outputs); filled by InferShapes.
	Shapes map[string][]int
	Info   ModelInfo
}

// IsParam reports whether name is a constant.
func (g *Graph) IsParam(name string) bool {
	_, ok := g.Params[name]
	return ok
}

// Producer returns the node that outputs value name, or nil for graph inputs and params.
func (g *Graph) Producer(name string) *Node {
	for _, n := range g.Nodes {
		for _, o := range n.Outputs {
			if o == name {
				return n
			}
		}
	}
	return nil
}

// Consumers returns the nodes that read value name, in graph order.
func (g *Graph) Consumers(name string) []*Node {
	var out []*Node
	for _, n := range g.Nodes {
		for _, in := range n.Inputs {
			if in == name {
				out = append(out, n)
				break
			}
		}
	}
	return out
}

// Clone returns a deep copy of the graph (params included), so passes can
// rewrite a graph without touching the caller's.
func (g *Graph) Clone() *Graph {
	c := &Graph{
		Name:    g.Name,
		Inputs:  make([]Value, len(g.Inputs)),
		Outputs: append([]string(nil), g.Outputs...),
		Nodes:   make([]*Node, len(g.Nodes)),
		Params:  make(map[string]*Tensor, len(g.Params)),
		Shapes:  make(map[string][]int, len(g.Shapes)),
		Info:    g.Info,
	}
	for i, v := range g.Inputs {
		v.Shape = append([]int(nil), v.Shape...)
		c.Inputs[i] = v
	}
	for i, n := range g.Nodes {
		m := *n
		m.Inputs = append([]string(nil), n.Inputs...)
		m.Outputs = append([]string(nil), n.Outputs...)
		m.Attrs = cloneAttrs(n.Attrs)
		c.Nodes[i] = &m
	}
	for k, t := range g.Params {
		c.Params[k] = t.Clone()
	}
	for k, s := range g.Shapes {
		c.Shapes[k] = append([]int(nil), s...)
	}
	c.Info.Opsets = make(map[string]int64, len(g.Info.Opsets))
	for k, v := range g.Info.Opsets {
		c.Info.Opsets[k] = v
	}
	c.Info.Warnings = append([]string(nil), g.Info.Warnings...)
	return c
}

func cloneAttrs(a Attrs) Attrs {
	cp := func(s []int) []int {
		if s == nil {
			return nil
		}
		return append([]int(nil), s...)
	}
	a.Kernel, a.Strides, a.Pads, a.Dilations = cp(a.Kernel), cp(a.Strides), cp(a.Pads), cp(a.Dilations)
	a.Perm, a.Shape = cp(a.Perm), cp(a.Shape)
	return a
}

// TopoSort orders Nodes so that every node comes after the producers of its
// inputs (stable: ties keep their current order). It fails on cycles and on
// inputs that nothing produces.
func (g *Graph) TopoSort() error {
	avail := map[string]bool{}
	for _, v := range g.Inputs {
		avail[v.Name] = true
	}
	for k := range g.Params {
		avail[k] = true
	}
	producer := map[string]int{}
	for i, n := range g.Nodes {
		for _, o := range n.Outputs {
			producer[o] = i
		}
	}
	done := make([]bool, len(g.Nodes))
	out := make([]*Node, 0, len(g.Nodes))
	for len(out) < len(g.Nodes) {
		progressed := false
		for i, n := range g.Nodes {
			if done[i] {
				continue
			}
			ready := true
			for _, in := range n.Inputs {
				if in != "" && !avail[in] {
					ready = false
					if _, ok := producer[in]; !ok {
						return fmt.Errorf("node %q (%s): input %q is neither a graph input, a constant nor any node's output", n.Name, n.Op, in)
					}
					break
				}
			}
			if !ready {
				continue
			}
			done[i] = true
			progressed = true
			out = append(out, n)
			for _, o := range n.Outputs {
				avail[o] = true
			}
		}
		if !progressed {
			var stuck []string
			for i, n := range g.Nodes {
				if !done[i] {
					stuck = append(stuck, n.Name)
				}
			}
			sort.Strings(stuck)
			return fmt.Errorf("graph has a cycle through nodes %v", stuck)
		}
	}
	g.Nodes = out
	return nil
}
