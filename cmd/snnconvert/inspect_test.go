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

	"github.com/snnconvert/snnconvert/convert"
	"github.com/snnconvert/snnconvert/eval/dataset"
	"github.com/snnconvert/snnconvert/internal/npz"
	"github.com/snnconvert/snnconvert/normalize"
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
	if rep.Kind != "ann" || len(rep.Layers) != 12 || rep.TotalMACs != 416520 || rep.TotalParams != 61706 || !rep.Convertible || rep.Opsets[""] != 13 {
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

// inspect on a converted file: the SNN header and layer table, where the ANN
// inspect's totals must match, the IF layers' neurons, JSON, and a file that
// claims another semantics version is refused by name.
func TestInspectSNN(t *testing.T) {
	model := filepath.Join("..", "..", "models", "lenet5.onnx")
	snn := filepath.Join(t.TempDir(), "lenet5.snn.onnx")
	co := convertFlags{out: snn, calib: "mnist:train:100", norm: string(normalize.DefaultMethod), percentile: normalize.DefaultPercentile,
		reset: "subtract", vinit: convert.DefaultVInit, encoding: "analog", scaleInto: "thresholds"}
	if err := runConvert(&bytes.Buffer{}, model, &co); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := runInspect(&buf, snn, true, nil); err != nil {
		t.Fatal(err)
	}
	var rep snnInspectReport
	if err := json.Unmarshal(buf.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	// The ANN's figures (TestInspectJSON), carried through conversion; IF
	// neurons 6·14·14 (the first ReLU after its pool) + 16·10·10 + 120 + 84.
	if rep.Kind != "snn" || rep.SemanticsVersion != 1 || rep.TotalANNMACs != 416520 || rep.TotalParams != 61706 ||
		rep.Neurons != 2980 || rep.Normalization.CalibCount != 100 || len(rep.SpikingMaxPools) != 1 || rep.Metadata["snn.preprocessing"] == "" {
		t.Errorf("report: kind %q v%d, ANN MACs %d, params %d, neurons %d, calibration %d, spiking pools %v, metadata %v",
			rep.Kind, rep.SemanticsVersion, rep.TotalANNMACs, rep.TotalParams, rep.Neurons, rep.Normalization.CalibCount, rep.SpikingMaxPools, rep.Metadata)
	}
	buf.Reset()
	if err := runInspect(&buf, snn, false, nil); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"semantics v1", "encoding analog", "percentile 99.99", "IF NEURONS", "subtract", "2980"} {
		if !strings.Contains(buf.String(), w) {
			t.Errorf("report lacks %q:\n%s", w, buf.String())
		}
	}
	if err := runInspect(&bytes.Buffer{}, snn, false, []string{"x"}); err == nil {
		t.Error("--output on an SNN file: no error")
	}
	b, err := os.ReadFile(snn)
	if err != nil {
		t.Fatal(err)
	}
	v2 := filepath.Join(t.TempDir(), "v2.snn.onnx")
	// The version is one ASCII digit in the metadata: "1" → "7".
	key := []byte("snn.semantics_version")
	i := bytes.Index(b, key)
	if i < 0 {
		t.Fatal("no semantics version in the file")
	}
	j := i + bytes.IndexByte(b[i:], '1')
	b[j] = '7'
	if err := os.WriteFile(v2, b, 0o644); err != nil {
		t.Fatal(err)
	}
	err = runInspect(&bytes.Buffer{}, v2, false, nil)
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != exitUsage || !strings.Contains(err.Error(), "semantics version 7") || !strings.Contains(err.Error(), v2) {
		t.Errorf("version-7 file: %v", err)
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
