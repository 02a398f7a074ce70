package convert

import (
	"fmt"
	"math"
	"slices"

	"github.com/snnconvert/snnconvert/ann"
)

// producer returns the node that outputs v (nil for graph inputs and params).
func producer(g *ann.Graph, v string) *ann.Node { return g.Producer(v) }

// uses counts how often v is read: by node inputs and as a graph output.
func uses(g *ann.Graph, v string) int {
	n := 0
	for _, nd := range g.Nodes {
		for _, in := range nd.Inputs {
			if in == v {
				n++
			}
		}
	}
	for _, o := range g.Outputs {
		if o == v {
			n++
		}
	}
	return n
}

// soleConsumer returns the one node reading v when v has exactly one use
// and is not a graph output.
func soleConsumer(g *ann.Graph, v string) *ann.Node {
	if uses(g, v) != 1 || slices.Contains(g.Outputs, v) {
		return nil
	}
	c := g.Consumers(v)
	if len(c) != 1 {
		return nil
	}
	return c[0]
}

// replaceUses makes every reader of old (nodes and graph outputs) read new.
func replaceUses(g *ann.Graph, old, new string) {
	for _, nd := range g.Nodes {
		for i, in := range nd.Inputs {
			if in == old {
				nd.Inputs[i] = new
			}
		}
	}
	for i, o := range g.Outputs {
		if o == old {
			g.Outputs[i] = new
		}
	}
}

// removeNode drops n from the node list (its readers must already be rewired).
func removeNode(g *ann.Graph, n *ann.Node) {
	g.Nodes = slices.DeleteFunc(g.Nodes, func(m *ann.Node) bool { return m == n })
}

// bypass removes a unary node, rewiring its readers to its input. The graph's
// output keeps its name when the bypassed node produced it and its input is an
// internal value that nothing else reads: the producer of the input is renamed
// instead, so users still find the output they asked for.
func bypass(g *ann.Graph, n *ann.Node) {
	in, out := n.Inputs[0], n.Outputs[0]
	if slices.Contains(g.Outputs, out) {
		if p := producer(g, in); p != nil && uses(g, in) == 1 {
			removeNode(g, n)
			for i, o := range p.Outputs {
				if o == in {
					p.Outputs[i] = out
				}
			}
			return
		}
	}
	replaceUses(g, out, in)
	removeNode(g, n)
}

// fresh returns a value or node name not used in g, derived from base.
func fresh(g *ann.Graph, base string) string {
	taken := func(s string) bool {
		if _, ok := g.Params[s]; ok {
			return true
		}
		if _, ok := g.Shapes[s]; ok {
			return true
		}
		for _, v := range g.Inputs {
			if v.Name == s {
				return true
			}
		}
		for _, n := range g.Nodes {
			if n.Name == s || slices.Contains(n.Outputs, s) {
				return true
			}
		}
		return false
	}
	if !taken(base) {
		return base
	}
	for i := 1; ; i++ {
		s := fmt.Sprintf("%s_%d", base, i)
		if !taken(s) {
			return s
		}
	}
}

// addParam stores t under a fresh name derived from base.
func addParam(g *ann.Graph, base string, t *ann.Tensor) string {
	name := fresh(g, base)
	g.Params[name] = t
	return name
}

// ownParam returns a copy of param name stored under a fresh name, so a pass
// can change weights that other nodes might share.
func ownParam(g *ann.Graph, name string) (string, *ann.Tensor) {
	t := g.Params[name].Clone()
	return addParam(g, name, t), t
}

// channelVector reads a constant that broadcasts against a value of
// per-sample shape and varies only along axis 0 (or not at all) as one entry
// per channel. ok is false for any other constant.
func channelVector(p *ann.Tensor, shape []int) ([]float32, bool) {
	ps := p.Shape
	for len(ps) > len(shape) && ps[0] == 1 {
		ps = ps[1:]
	}
	if len(ps) > len(shape) {
		return nil, false
	}
	c := 1
	if len(shape) > 0 {
		c = shape[0]
	}
	off := len(shape) - len(ps)
	along0 := false
	for j, d := range ps {
		axis := off + j
		if d == 1 {
			continue
		}
		if d != shape[axis] || axis != 0 {
			return nil, false
		}
		along0 = true
	}
	out := make([]float32, c)
	for i := range out {
		if along0 {
			out[i] = p.Data[i]
		} else {
			out[i] = p.Data[0]
		}
	}
	return out, len(p.Data) > 0
}

// expand repeats a per-channel vector over the inner elements of shape.
func expand(ch []float32, shape []int) []float32 {
	n := ann.Numel(shape)
	if len(ch) == 1 {
		out := make([]float32, n)
		for i := range out {
			out[i] = ch[0]
		}
		return out
	}
	inner := n / len(ch)
	out := make([]float32, n)
	for i := range out {
		out[i] = ch[i/inner]
	}
	return out
}

// isLayout reports ops that only move elements without changing them.
func isLayout(op ann.Op) bool {
	return op == ann.OpFlatten || op == ann.OpReshape
}

// nonNegative reports whether v is known to be ≥ 0: a ReLU's output, or one
// reached from it through ops that keep signs.
func nonNegative(g *ann.Graph, v string) bool {
	for {
		p := producer(g, v)
		if p == nil {
			return false
		}
		switch p.Op {
		case ann.OpRelu, ann.OpClippedRelu:
			return true
		case ann.OpMaxPool, ann.OpAveragePool, ann.OpGlobalAveragePool, ann.OpFlatten, ann.OpReshape, ann.OpTranspose:
			v = p.Inputs[0]
		case ann.OpPad:
			if p.Attrs.Value < 0 {
				return false
			}
			v = p.Inputs[0]
		default:
			return false
		}
	}
}

// allZero reports an all-zero int slice (nil included).
func allZero(s []int) bool {
	for _, v := range s {
		if v != 0 {
			return false
		}
	}
	return true
}

func isInf(f float32, sign int) bool { return math.IsInf(float64(f), sign) }

// reinfer refreshes g.Shapes after a pass changed the graph.
func reinfer(g *ann.Graph) error {
	if err := g.TopoSort(); err != nil {
		return err
	}
	g.Shapes = map[string][]int{}
	return ann.InferShapes(g)
}
