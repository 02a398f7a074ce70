package convert

import (
	"fmt"
	"slices"
	"strings"

	"github.com/snnconvert/snnconvert/ann"
)

// live returns the nodes and values the graph outputs depend on.
func live(g *ann.Graph) (map[*ann.Node]bool, map[string]bool) {
	need := map[string]bool{}
	for _, o := range g.Outputs {
		need[o] = true
	}
	nodes := map[*ann.Node]bool{}
	for i := len(g.Nodes) - 1; i >= 0; i-- {
		n := g.Nodes[i]
		for _, o := range n.Outputs {
			if need[o] {
				nodes[n] = true
				break
			}
		}
		if nodes[n] {
			for _, in := range n.Inputs {
				if in != "" {
					need[in] = true
				}
			}
		}
	}
	return nodes, need
}

func passSelectIO(c *PassContext) ([]string, error) {
	g := c.G
	var log []string
	if out := c.Opt.Output; out != "" {
		if producer(g, out) == nil && !slices.ContainsFunc(g.Inputs, func(v ann.Value) bool { return v.Name == out }) {
			return nil, fmt.Errorf("--output %q is not a value of %q (graph outputs: %s)", out, g.Name, strings.Join(g.Outputs, ", "))
		}
		if !slices.Equal(g.Outputs, []string{out}) {
			log = append(log, fmt.Sprintf("output narrowed to %q (was %s)", out, strings.Join(g.Outputs, ", ")))
			g.Outputs = []string{out}
		}
	}
	if in := c.Opt.Input; in != "" && !slices.ContainsFunc(g.Inputs, func(v ann.Value) bool { return v.Name == in }) {
		var names []string
		for _, v := range g.Inputs {
			names = append(names, v.Name)
		}
		return log, fmt.Errorf("--input %q is not an input of %q (inputs: %s)", in, g.Name, strings.Join(names, ", "))
	}
	nodes, need := live(g)
	var dead []string
	for _, n := range g.Nodes {
		if !nodes[n] {
			dead = append(dead, n.Name)
		}
	}
	if len(dead) > 0 && c.Opt.Output != "" {
		g.Nodes = slices.DeleteFunc(g.Nodes, func(n *ann.Node) bool { return !nodes[n] })
		log = append(log, fmt.Sprintf("removed %d nodes off the selected path: %s", len(dead), strings.Join(dead, ", ")))
	}
	var kept []ann.Value
	for _, v := range g.Inputs {
		if need[v.Name] {
			kept = append(kept, v)
		} else {
			log = append(log, fmt.Sprintf("dropped input %q: the output does not depend on it", v.Name))
		}
	}
	g.Inputs = kept
	if in := c.Opt.Input; in != "" {
		for _, v := range g.Inputs {
			if v.Name != in {
				return log, fmt.Errorf("output %s depends on input %q as well as --input %q", strings.Join(g.Outputs, ", "), v.Name, in)
			}
		}
	}
	return log, nil
}

func passRemoveIdentity(c *PassContext) ([]string, error) {
	g := c.G
	var log []string
	for _, n := range slices.Clone(g.Nodes) {
		switch n.Op {
		case ann.OpIdentity, ann.OpDropout, ann.OpCast:
		default:
			continue
		}
		for _, o := range n.Outputs[1:] {
			if o != "" && uses(g, o) > 0 {
				return log, fmt.Errorf("node %q (%s): its second output %q is used (a Dropout mask?)", n.Name, n.Op, o)
			}
		}
		n.Outputs = n.Outputs[:1]
		bypass(g, n)
		log = append(log, fmt.Sprintf("removed %s %q", n.Op, n.Name))
	}
	return log, nil
}

// headOps are output ops that keep the order of the class scores (or pick
// the best one), so the integrating output layer can stand in for them.
func isHead(g *ann.Graph, n *ann.Node) bool {
	switch n.Op {
	case ann.OpSoftmax, ann.OpLogSoftmax, ann.OpArgMax, ann.OpSigmoid:
		return true
	case ann.OpLog:
		p := producer(g, n.Inputs[0])
		return p != nil && p.Op == ann.OpSoftmax
	case ann.OpClip:
		// A clamp of the logits (ai8x's ±131072) is monotone; a Clip(0, m)
		// after a linear layer is an activation, which strip-head leaves to
		// the output layer only when it is a pure output clamp.
		return true
	}
	return false
}

func passStripHead(c *PassContext) ([]string, error) {
	g := c.G
	var log []string
	for i := range g.Outputs {
		for {
			n := producer(g, g.Outputs[i])
			if n == nil || !isHead(g, n) || uses(g, n.Outputs[0]) != 1 {
				break
			}
			desc := string(n.Op)
			if n.Op == ann.OpClip {
				desc = fmt.Sprintf("Clip[%g,%g]", n.Attrs.Min, n.Attrs.Max)
			}
			c.Head = append(c.Head, desc)
			g.Outputs[i] = n.Inputs[0]
			removeNode(g, n)
			log = append(log, fmt.Sprintf("stripped output %s %q; the output is now %q", desc, n.Name, g.Outputs[i]))
		}
		// Elementwise monotone heads may sit before a final Reshape/Flatten
		// (ai8x: Conv → Min → Max → Reshape).
		for {
			l := producer(g, g.Outputs[i])
			if l == nil || !isLayout(l.Op) {
				break
			}
			for {
				p := producer(g, l.Inputs[0])
				if p == nil || !isLayout(p.Op) || uses(g, p.Outputs[0]) != 1 {
					break
				}
				l = p
			}
			n := producer(g, l.Inputs[0])
			if n == nil || (n.Op != ann.OpClip && n.Op != ann.OpSigmoid) || uses(g, n.Outputs[0]) != 1 {
				break
			}
			desc := string(n.Op)
			if n.Op == ann.OpClip {
				desc = fmt.Sprintf("Clip[%g,%g]", n.Attrs.Min, n.Attrs.Max)
			}
			c.Head = append(c.Head, desc)
			l.Inputs[0] = n.Inputs[0]
			removeNode(g, n)
			log = append(log, fmt.Sprintf("stripped output %s %q before %s %q", desc, n.Name, l.Op, l.Name))
		}
	}
	return log, nil
}

func passClippedRelu(c *PassContext) ([]string, error) {
	g := c.G
	var log []string
	for changed := true; changed; {
		changed = false
		for _, n := range slices.Clone(g.Nodes) {
			if !slices.Contains(g.Nodes, n) {
				continue
			}
			in := ""
			if len(n.Inputs) > 0 {
				in = n.Inputs[0]
			}
			switch {
			case n.Op == ann.OpLeakyRelu && n.Attrs.Alpha == 0:
				n.Op = ann.OpRelu
				log = append(log, fmt.Sprintf("LeakyRelu %q with slope 0 → Relu", n.Name))
				changed = true
			case n.Op == ann.OpRelu && nonNegative(g, in):
				bypass(g, n)
				log = append(log, fmt.Sprintf("removed Relu %q: its input is already ≥ 0", n.Name))
				changed = true
			case n.Op == ann.OpClip && n.Attrs.Min <= 0 && nonNegative(g, in):
				hi := n.Attrs.Max
				p := producer(g, in)
				switch {
				case isInf(hi, 1):
					bypass(g, n)
					log = append(log, fmt.Sprintf("removed Clip %q [%g, %g]: no effect on a value ≥ 0", n.Name, n.Attrs.Min, hi))
				case (p.Op == ann.OpRelu || p.Op == ann.OpClippedRelu) && uses(g, in) == 1:
					old := p.Op
					if p.Op == ann.OpRelu || hi < p.Attrs.Max {
						p.Attrs.Max = hi
					}
					p.Op = ann.OpClippedRelu
					bypass(g, n)
					log = append(log, fmt.Sprintf("%s %q + Clip %q → ClippedRelu(%g)", old, p.Name, n.Name, p.Attrs.Max))
				default:
					n.Op = ann.OpClippedRelu
					n.Attrs = ann.Attrs{Max: hi}
					log = append(log, fmt.Sprintf("Clip %q on a value ≥ 0 → ClippedRelu(%g)", n.Name, hi))
				}
				changed = true
			case n.Op == ann.OpClip && n.Attrs.Min == 0:
				if isInf(n.Attrs.Max, 1) {
					n.Op = ann.OpRelu
					n.Attrs = ann.Attrs{}
					log = append(log, fmt.Sprintf("Clip %q [0, inf] → Relu", n.Name))
				} else {
					n.Op = ann.OpClippedRelu
					n.Attrs = ann.Attrs{Max: n.Attrs.Max}
					log = append(log, fmt.Sprintf("Clip %q [0, %g] → ClippedRelu(%g)", n.Name, n.Attrs.Max, n.Attrs.Max))
				}
				changed = true
			}
		}
	}
	return log, nil
}

func passInputTranspose(c *PassContext) ([]string, error) {
	g := c.G
	if len(g.Inputs) != 1 {
		return nil, nil
	}
	in := &g.Inputs[0]
	t := soleConsumer(g, in.Name)
	if t == nil || t.Op != ann.OpTranspose {
		return nil, nil
	}
	out := g.Shapes[t.Outputs[0]]
	if onlyUnitAxesMove(in.Shape, t.Attrs.Perm) {
		t.Op = ann.OpReshape
		t.Attrs = ann.Attrs{Shape: slices.Clone(out)}
		return []string{fmt.Sprintf("Transpose %q of input %q moves only size-1 axes → Reshape to %v", t.Name, in.Name, out)}, nil
	}
	c.InputPerm = slices.Clone(t.Attrs.Perm)
	old := slices.Clone(in.Shape)
	in.Shape = slices.Clone(out)
	replaceUses(g, t.Outputs[0], in.Name)
	removeNode(g, t)
	msg := fmt.Sprintf("input %q is now %v (the model declares %v, permuted by %v in Transpose %q): feed it channel-first", in.Name, out, old, c.InputPerm, t.Name)
	c.Warnings = append(c.Warnings, msg)
	return []string{msg}, nil
}

// onlyUnitAxesMove reports whether perm keeps the relative order of every
// axis longer than 1, so the transpose leaves memory order unchanged.
func onlyUnitAxesMove(shape, perm []int) bool {
	last := -1
	for _, a := range perm {
		if a < 0 || a >= len(shape) {
			return false
		}
		if shape[a] == 1 {
			continue
		}
		if a < last {
			return false
		}
		last = a
	}
	return true
}

func passCollapseLayout(c *PassContext) ([]string, error) {
	g := c.G
	var log []string
	for _, n := range slices.Clone(g.Nodes) {
		switch {
		case n.Op == ann.OpTranspose && onlyUnitAxesMove(g.Shapes[n.Inputs[0]], n.Attrs.Perm):
			n.Op = ann.OpReshape
			n.Attrs = ann.Attrs{Shape: slices.Clone(g.Shapes[n.Outputs[0]])}
			log = append(log, fmt.Sprintf("Transpose %q moves only size-1 axes → Reshape", n.Name))
		}
		if !isLayout(n.Op) {
			continue
		}
		if p := producer(g, n.Inputs[0]); p != nil && isLayout(p.Op) && uses(g, p.Outputs[0]) == 1 && !slices.Contains(g.Outputs, p.Outputs[0]) {
			n.Inputs[0] = p.Inputs[0]
			removeNode(g, p)
			log = append(log, fmt.Sprintf("merged %s %q into %s %q", p.Op, p.Name, n.Op, n.Name))
		}
	}
	if err := reinfer(g); err != nil {
		return log, err
	}
	for _, n := range slices.Clone(g.Nodes) {
		if isLayout(n.Op) && slices.Equal(g.Shapes[n.Inputs[0]], g.Shapes[n.Outputs[0]]) {
			bypass(g, n)
			log = append(log, fmt.Sprintf("removed no-op %s %q", n.Op, n.Name))
		}
	}
	return log, nil
}

func passDeadCode(c *PassContext) ([]string, error) {
	g := c.G
	var log []string
	nodes, need := live(g)
	for _, n := range slices.Clone(g.Nodes) {
		if !nodes[n] {
			removeNode(g, n)
			log = append(log, fmt.Sprintf("removed %s %q: no output depends on it", n.Op, n.Name))
		}
	}
	var unused []string
	for k := range g.Params {
		if !need[k] {
			unused = append(unused, k)
		}
	}
	slices.Sort(unused)
	for _, k := range unused {
		delete(g.Params, k)
	}
	if len(unused) > 0 {
		log = append(log, fmt.Sprintf("dropped %d unused constants", len(unused)))
	}
	return log, nil
}
