package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/snnconvert/snnconvert/eval/dataset"
	"github.com/snnconvert/snnconvert/internal/npz"
)

func TestInspectJSON(t *testing.T) {
	var buf bytes.Buffer
	if err := runInspect(&buf, filepath.Join("..", "..", "models", "lenet5.onnx"), true, nil); err != nil {
		t.Fatal(err)
	}
	var rep inspectReport
	if err := json.Unmarshal(buf.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	// conv 6·28·28·25 + conv 16·10·10·150 + 400·120 + 120·84 + 84·10
	if len(rep.Layers) != 12 || rep.TotalMACs != 416520 || rep.TotalParams != 61706 || !rep.Convertible || rep.Opsets[""] != 13 {
		t.Errorf("layers %d, MACs %d, params %d, convertible %v, opsets %v", len(rep.Layers), rep.TotalMACs, rep.TotalParams, rep.Convertible, rep.Opsets)
	}
}

func TestInspectNegatives(t *testing.T) {
	dir := dataset.CorpusDir()
	sig := filepath.Join(dir, "negative", "NEG_eran_sigmoid_6x200.onnx")
	if _, err := os.Stat(sig); err != nil {
		t.Skipf("shared ONNX corpus not found at %s: %v", dir, err)
	}
	var buf bytes.Buffer
	if err := runInspect(&buf, sig, false, nil); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, w := range []string{"Sigmoid", "refused", "NOT convertible"} {
		if !strings.Contains(out, w) {
			t.Errorf("report lacks %q:\n%s", w, out)
		}
	}
	buf.Reset()
	err := runInspect(&buf, filepath.Join(dir, "negative", "NEG_akinobu_tf1_accuracy_graph.onnx"), true, nil)
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != exitUsage || !strings.Contains(buf.String(), `"ReduceMean"`) {
		t.Errorf("metric graph: err %v, JSON %s", err, buf.String())
	}
}

func TestInferMatchesReference(t *testing.T) {
	dir := dataset.CorpusDir()
	ref := filepath.Join(dir, "refs", "baskov_mnist_pt25.npz")
	if _, err := os.Stat(ref); err != nil {
		t.Skipf("shared ONNX corpus not found at %s: %v", dir, err)
	}
	out := filepath.Join(t.TempDir(), "y.npz")
	inferOpts.input, inferOpts.output, inferOpts.array, inferOpts.reference, inferOpts.batch = ref, out, "x", "", 7
	quiet = true
	var stderr bytes.Buffer
	if err := runInfer(&stderr, filepath.Join(dir, "models", "baskov_mnist_pt25.onnx")); err != nil {
		t.Fatal(err)
	}
	got, err := npz.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := npz.ReadFile(ref)
	y, w := got["logits"], want["ort_output"]
	if y == nil || len(y.Data) != len(w.Data) {
		t.Fatalf("logits %v, reference %v", y, w.Shape)
	}
	var d, m float64
	for i := range w.Data {
		d = math.Max(d, math.Abs(float64(y.Data[i]-w.Data[i])))
		m = math.Max(m, math.Abs(float64(w.Data[i])))
	}
	if d/m > 1e-4 {
		t.Errorf("relative error %.3g", d/m)
	}
}
