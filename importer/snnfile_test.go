package importer

import (
	"strings"
	"testing"

	"github.com/snnconvert/snnconvert/snnrt"
)

// TestSNNFileRefused: convert's output handed back to the importer (to eval,
// convert or infer) gets one error that says what the file is and where it
// goes, not a list of unknown operators.
func TestSNNFileRefused(t *testing.T) {
	net := &snnrt.Network{Name: "n", Input: "x", InputShape: []int{4}, Output: "y", Nodes: []*snnrt.Node{
		{Name: "fc", Op: snnrt.OpDense, Inputs: []string{"x"}, Output: "a", W: &snnrt.Tensor{Shape: []int{3, 4}, Data: make([]float32, 12)}},
		{Name: "if", Op: snnrt.OpIF, Inputs: []string{"a"}, Output: "s", Threshold: []float32{1}, Reset: snnrt.ResetSubtract},
		{Name: "out", Op: snnrt.OpDense, Inputs: []string{"s"}, Output: "y", W: &snnrt.Tensor{Shape: []int{2, 3}, Data: make([]float32, 6)}},
	}}
	net.Meta.SemanticsVersion = snnrt.SemanticsVersion
	b, err := snnrt.Encode(net)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Import(b, Options{Name: "n.snn.onnx"})
	if err == nil {
		t.Fatal("an SNN file imported")
	}
	for _, w := range []string{"n.snn.onnx", "spiking network", "source ONNX model", "snnconvert run"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q: %v", w, err)
		}
	}
}
