package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/snnconvert/snnconvert/eval"
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
	model := filepath.Join("..", "..", "models", "mlp.onnx")
	if _, err := os.Stat(model); err != nil {
		t.Skipf("bundled model missing: %v", err)
	}
	dir := t.TempDir()
	o := evalFlags{data: "mnist:test:60", ts: []int{16, 8}, calib: "mnist:train:200", vInit: 0.5, targetT: 32,
		jsonOut: filepath.Join(dir, "r.json"), reportDir: filepath.Join(dir, "report")}
	var out, errw bytes.Buffer
	if err := evalMain(context.Background(), &out, &errw, given(), model, o, "snnconvert eval mlp.onnx"); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"ANN accuracy:", "mnist:test:60, 60 samples", "│   8 │", "│  16 │", "CORRELATION", "energy, µJ (estimate)"} {
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
	for _, f := range []string{"report.md", "report.html", "accuracy.svg", "correlation.svg", "firing_rate.svg", "raster.svg", "result.json"} {
		if _, err := os.Stat(filepath.Join(o.reportDir, f)); err != nil {
			t.Errorf("report: %v", err)
		}
	}
	if !strings.Contains(errw.String(), "report written to") {
		t.Errorf("stderr: %q", errw.String())
	}
}
