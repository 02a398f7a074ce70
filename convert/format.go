package convert

import (
	"fmt"
	"strings"

	"github.com/snnconvert/snnconvert/ann"
)

// FormatGraph prints a graph one node per line, with per-sample shapes and
// constant shapes, for --dump-after.
func FormatGraph(g *ann.Graph) string {
	var b strings.Builder
	fmt.Fprintf(&b, "graph %q\n", g.Name)
	for _, v := range g.Inputs {
		fmt.Fprintf(&b, "  input  %s %v\n", v.Name, v.Shape)
	}
	for _, n := range g.Nodes {
		var ins []string
		for _, in := range n.Inputs {
			switch {
			case in == "":
				ins = append(ins, "-")
			case g.IsParam(in):
				ins = append(ins, fmt.Sprintf("%s:const%v", in, g.Params[in].Shape))
			default:
				ins = append(ins, in)
			}
		}
		fmt.Fprintf(&b, "  %-22s %-18s %s -> %s %v%s\n", n.Name, n.Op, strings.Join(ins, ", "),
			strings.Join(n.Outputs, ", "), g.Shapes[n.Outputs[0]], formatAttrs(n))
	}
	fmt.Fprintf(&b, "  output %s\n", strings.Join(g.Outputs, ", "))
	return b.String()
}

func formatAttrs(n *ann.Node) string {
	a := n.Attrs
	var parts []string
	add := func(k string, v any) { parts = append(parts, fmt.Sprintf("%s=%v", k, v)) }
	switch n.Op {
	case ann.OpConv:
		add("strides", a.Strides)
		add("pads", a.Pads)
		if a.Group > 1 {
			add("group", a.Group)
		}
	case ann.OpMaxPool, ann.OpAveragePool:
		add("kernel", a.Kernel)
		add("strides", a.Strides)
		add("pads", a.Pads)
		if a.CeilMode {
			add("ceil", true)
		}
		if a.CountIncludePad {
			add("count_include_pad", true)
		}
	case ann.OpClippedRelu:
		add("max", a.Max)
	case ann.OpClip:
		add("min", a.Min)
		add("max", a.Max)
	case ann.OpTranspose:
		add("perm", a.Perm)
	case ann.OpConcat, ann.OpSoftmax, ann.OpLogSoftmax, ann.OpArgMax:
		add("axis", a.Axis)
	case ann.OpPad:
		add("pads", a.Pads)
		add("value", a.Value)
	case ann.OpLeakyRelu:
		add("alpha", a.Alpha)
	}
	if len(parts) == 0 {
		return ""
	}
	return "  " + strings.Join(parts, " ")
}
