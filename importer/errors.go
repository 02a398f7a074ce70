package importer

import (
	"fmt"
	"strings"
)

// Problem is one reason a model cannot be imported, tied to the node (or
// initializer, or graph input) it concerns.
type Problem struct {
	Node   string `json:"node"`
	Op     string `json:"op"`
	Opset  int64  `json:"opset,omitempty"`
	Reason string `json:"reason"`
	Hint   string `json:"hint,omitempty"`
}

func (p Problem) String() string {
	var b strings.Builder
	switch {
	case p.Op != "" && p.Opset > 0:
		fmt.Fprintf(&b, "node %q (%s, opset %d): %s", p.Node, p.Op, p.Opset, p.Reason)
	case p.Op != "":
		fmt.Fprintf(&b, "%q (%s): %s", p.Node, p.Op, p.Reason)
	default:
		fmt.Fprintf(&b, "%q: %s", p.Node, p.Reason)
	}
	if p.Hint != "" {
		fmt.Fprintf(&b, " (hint: %s)", p.Hint)
	}
	return b.String()
}

// Error reports every problem found in a model at once.
type Error struct {
	// Source is the file (or model name) that was imported.
	Source   string
	Problems []Problem
	// Note is a model-level suggestion, e.g. which outputs to cut at.
	Note string
}

func (e *Error) Error() string {
	var b strings.Builder
	src := e.Source
	if src == "" {
		src = "model"
	}
	if len(e.Problems) == 1 {
		fmt.Fprintf(&b, "%s: cannot import: %s", src, e.Problems[0])
	} else {
		fmt.Fprintf(&b, "%s: cannot import, %d problems:", src, len(e.Problems))
		for _, p := range e.Problems {
			b.WriteString("\n  - ")
			b.WriteString(p.String())
		}
	}
	if e.Note != "" {
		b.WriteString("\n  ")
		b.WriteString(e.Note)
	}
	return b.String()
}

// refusal is what an op handler returns when it cannot lower a node.
type refusal struct {
	reason string
	hint   string
}

func (r *refusal) Error() string { return r.reason }

func refuse(hint, format string, args ...any) error {
	return &refusal{reason: fmt.Sprintf(format, args...), hint: hint}
}

// Hints shared by several handlers.
const (
	hintConstWeights = "export the model with its weights as initializers (e.g. torch.onnx.export(..., do_constant_folding=True))"
	hintBatchAxis    = "the importer treats axis 0 as the free batch axis; re-export so that this op leaves the batch axis alone"
	hintReexport     = "re-export the model with a recent exporter and opset 13, or simplify it with onnxsim"
	hintSubgraph     = "if this part only post-processes the classifier's output, import the classifier alone with Options.Outputs (snnconvert inspect/convert --output NAME)"
)
