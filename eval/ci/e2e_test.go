package ci

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/snnconvert/snnconvert/eval"
)

// Through the real evaluator: record a baseline for a bundled model on a
// 1000-image slice, check it (passes: the evaluation is deterministic), then raise
// the expectation above what the model reaches (fails).
func TestCheckEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end evaluation skipped in -short mode")
	}
	model, err := filepath.Abs(filepath.Join("..", "..", "models", "mlp.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(model); err != nil {
		t.Skipf("bundled model not trained yet: %v", err)
	}
	dir := t.TempDir()
	bpath := filepath.Join(dir, "baseline.json")
	r, err := eval.Evaluate(context.Background(), eval.Options{Model: model, Data: "mnist:test:1000", Ts: []int{16, 32}})
	if err != nil {
		t.Fatal(err)
	}
	if r.Samples != 1000 || r.ANNAccuracy < 0.95 || r.Points[1].Accuracy < 0.9 {
		t.Fatalf("mlp on 1000 test images: ANN %.3f, SNN %+v", r.ANNAccuracy, r.Points)
	}
	m, err := Record("mlp", RelativeTo(bpath, model), "", r)
	if err != nil {
		t.Fatal(err)
	}
	b := &Baseline{Version: BaselineVersion, Models: []Model{m}}
	if err := WriteBaseline(bpath, b); err != nil {
		t.Fatal(err)
	}
	b, err = ReadBaseline(bpath)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Check(context.Background(), bpath, b, Options{}, eval.Evaluate)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.Passed != 2 || rep.Cases[1].Correct != r.Points[1].Correct {
		t.Fatalf("honest baseline: %+v", rep.Cases)
	}
	// Raise the T=32 expectation just past what the Wilson bound of the
	// observed count allows: the gate must now fail, with exactly these numbers.
	k := r.Points[1].Correct
	raised := WilsonUpper(k, r.Samples, DefaultConfidence) + DefaultTolerancePP/100 + 0.001
	if raised > 1 {
		t.Fatalf("mlp got %d/%d at T=32: no baseline ≤ 100 %% can fail it; use a larger slice", k, r.Samples)
	}
	b.Models[0].Gates[1].Accuracy = raised
	rep, err = Check(context.Background(), bpath, b, Options{}, eval.Evaluate)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Failed != 1 || rep.Cases[1].Status != StatusFail || rep.Cases[1].Correct != k || rep.Cases[0].Status != StatusPass {
		t.Fatalf("degraded baseline: %+v", rep.Cases)
	}
}
