package main

import (
	"bytes"
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/snnconvert/snnconvert/convert"
	"github.com/snnconvert/snnconvert/eval"
	"github.com/snnconvert/snnconvert/normalize"
)

func given(names ...string) func(string) bool {
	return func(n string) bool {
		for _, g := range names {
			if g == n {
				return true
			}
		}
		return false
	}
}

func TestEvalUsageErrors(t *testing.T) {
	model := filepath.Join("..", "..", "models", "mlp.onnx")
	tests := []struct {
		name    string
		model   string
		o       evalFlags
		changed []string
		want    string
	}{
		{"no data", model, evalFlags{}, nil, "--data is required"},
		{"auto with norm", model, evalFlags{data: "mnist:test:10", auto: true, norm: "max"}, []string{"norm"}, "--auto chooses"},
		{"snn file without source", "x.snn.onnx", evalFlags{data: "mnist:test:10"}, nil, "--source"},
		{"bad preprocess", model, evalFlags{data: "mnist:test:10", preprocess: "layout=NCHW"}, nil, "--preprocess"},
		{"bad norm", model, evalFlags{data: "mnist:test:10", norm: "median"}, []string{"norm"}, "median"},
		{"missing model", "no/such.onnx", evalFlags{data: "mnist:test:10"}, nil, "no/such.onnx"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errw bytes.Buffer
			err := evalMain(context.Background(), &out, &errw, given(tc.changed...), tc.model, tc.o, "test")
			var ee *exitError
			if !errors.As(err, &ee) || ee.code != exitUsage || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want exit 2 mentioning %q", err, tc.want)
			}
			if out.Len() != 0 {
				t.Errorf("a failed eval printed a table:\n%s", out.String())
			}
		})
	}
}

func TestEvalWritesTableJSONAndReport(t *testing.T) {
	quiet = true
	model := filepath.Join("..", "..", "models", "mlp.onnx")
	if _, err := os.Stat(model); err != nil {
		t.Skipf("bundled model missing: %v", err)
	}
	dir := t.TempDir()
	o := evalFlags{data: "mnist:test:60", ts: []int{16, 8}, calib: "mnist:train:200", vInit: 0.5, targetT: 32, reference: true,
		jsonOut: filepath.Join(dir, "r.json"), reportDir: filepath.Join(dir, "report")}
	var out, errw bytes.Buffer
	if err := evalMain(context.Background(), &out, &errw, given(), model, o, "snnconvert eval mlp.onnx"); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"ANN accuracy:", "Reference:", "mnist:test:60, 60 samples", "│   8 │", "│  16 │", "CORRELATION", "energy, µJ (estimate)"} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("table lacks %q:\n%s", w, out.String())
		}
	}
	r, err := eval.ReadJSON(o.jsonOut)
	if err != nil {
		t.Fatal(err)
	}
	if r.Samples != 60 || len(r.Points) != 2 || r.Points[0].T != 8 || r.Settings.Calib != "mnist:train:200" || r.Settings.TargetT != 0 {
		t.Errorf("JSON result: samples %d, points %+v, settings %+v", r.Samples, r.Points, r.Settings)
	}
	if rc := r.Reference; rc == nil || rc.Backend != "gorgonia" || rc.Supported && (!rc.Agree || rc.Samples != 60) {
		t.Errorf("reference check: %+v", rc)
	}
	for _, f := range []string{"report.md", "report.html", "accuracy.svg", "correlation.svg", "firing_rate.svg", "raster.svg", "result.json"} {
		if _, err := os.Stat(filepath.Join(o.reportDir, f)); err != nil {
			t.Errorf("report: %v", err)
		}
	}
	if !strings.Contains(errw.String(), "report written to") {
		t.Errorf("stderr: %q", errw.String())
	}
}

// eval on a file written by convert, with --source, reports what converting
// on the fly with the same settings reports, per-layer correlation included
// (the layer map is recovered by converting the source again).
func TestEvalConvertedFileWithSource(t *testing.T) {
	model := endToEndModel(t, "mlp")
	dir := t.TempDir()
	snn := filepath.Join(dir, "mlp.snn.onnx")
	co := convertFlags{out: snn, calib: "mnist:train:200", norm: string(normalize.DefaultMethod), percentile: normalize.DefaultPercentile,
		reset: "subtract", vinit: convert.DefaultVInit, encoding: "analog", scaleInto: "thresholds"}
	if err := runConvert(&bytes.Buffer{}, model, &co); err != nil {
		t.Fatal(err)
	}
	evalJSON := func(model string, o evalFlags) *eval.Result {
		t.Helper()
		o.data, o.ts, o.vInit, o.targetT = "mnist:test:64", []int{8, 32}, 0.5, 32
		o.jsonOut = filepath.Join(dir, strings.ReplaceAll(filepath.Base(model), ".", "_")+".json")
		var out, errw bytes.Buffer
		if err := evalMain(context.Background(), &out, &errw, given(), model, o, "test"); err != nil {
			t.Fatalf("eval %s: %v", model, err)
		}
		if !strings.Contains(out.String(), "│   8 │") || !strings.Contains(out.String(), "CORRELATION") {
			t.Errorf("eval %s table:\n%s", model, out.String())
		}
		r, err := eval.ReadJSON(o.jsonOut)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	fromFile := evalJSON(snn, evalFlags{source: model})
	direct := evalJSON(model, evalFlags{calib: "mnist:train:200"})
	if !reflect.DeepEqual(fromFile.Points, direct.Points) || fromFile.ANNCorrect != direct.ANNCorrect || fromFile.Samples != 64 {
		t.Errorf("points from the file %+v, on the fly %+v", fromFile.Points, direct.Points)
	}
	if len(fromFile.Layers) == 0 || len(fromFile.Layers) != len(direct.Layers) {
		t.Fatalf("layers from the file %+v, on the fly %+v", fromFile.Layers, direct.Layers)
	}
	for i, l := range fromFile.Layers {
		if l.CorrUndefined || math.Abs(l.Correlation-direct.Layers[i].Correlation) > 1e-9 {
			t.Errorf("layer %s: correlation %v (undefined %v) from the file, %v on the fly", l.Name, l.Correlation, l.CorrUndefined, direct.Layers[i].Correlation)
		}
	}
	for _, w := range fromFile.Warnings {
		if strings.Contains(w, "no per-layer correlation") {
			t.Errorf("the layer map was not recovered: %s", w)
		}
	}
	if fromFile.Settings.Calib != "mnist:train:200" || fromFile.Model != snn {
		t.Errorf("result names %s with settings %+v", fromFile.Model, fromFile.Settings)
	}

	// Conversion flags cannot re-convert an already converted file.
	var out bytes.Buffer
	err := evalMain(context.Background(), &out, &out, given("calib"), snn, evalFlags{data: "mnist:test:64", source: model, calib: "mnist:train:300", vInit: 0.5}, "test")
	if exitCodeOf(err) != exitUsage || !strings.Contains(err.Error(), "already converted") {
		t.Errorf("--calib on a converted file: %v", err)
	}
}

// --auto reports its choice, and the choice is one it can justify: the
// explanation names the winner first and the held-apart sample count.
func TestEvalAuto(t *testing.T) {
	model := endToEndModel(t, "mlp")
	dir := t.TempDir()
	o := evalFlags{data: "mnist:test:64", ts: []int{4, 8}, calib: "mnist:train:100", vInit: 0.5, auto: true, targetT: 8,
		jsonOut: filepath.Join(dir, "auto.json")}
	var out, errw bytes.Buffer
	if err := evalMain(context.Background(), &out, &errw, given("auto", "target-T"), model, o, "test"); err != nil {
		t.Fatal(err)
	}
	r, err := eval.ReadJSON(o.jsonOut)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Settings.Auto || r.Settings.TargetT != 8 || r.Chosen == "" {
		t.Fatalf("settings %+v, choice %q", r.Settings, r.Chosen)
	}
	if !strings.Contains(r.Chosen, "agreement at T=8") || !strings.Contains(r.Chosen, "on 50 held-apart calibration samples, calibrated on the other 50") {
		t.Errorf("choice: %s", r.Chosen)
	}
	if !strings.Contains(out.String(), "Auto choice:") || !strings.Contains(out.String(), r.Chosen[:20]) {
		t.Errorf("table does not show the choice:\n%s", out.String())
	}
	if p := r.Settings.Percentile; r.Settings.Norm == "max" && p != 0 || r.Settings.Norm != "max" && (p < 99 || p > 100) {
		t.Errorf("chosen norm %s percentile %v", r.Settings.Norm, p)
	}
}

// endToEndModel prepares a test that runs the real pipeline on a bundled
// model: it skips in -short mode or when the model is missing, silences the
// progress bars, and returns the model's absolute path.
func endToEndModel(t *testing.T, name string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end evaluation skipped in -short mode")
	}
	quiet = true
	model, err := filepath.Abs(filepath.Join("..", "..", "models", name+".onnx"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(model); err != nil {
		t.Skipf("bundled model missing: %v", err)
	}
	return model
}
