package ci

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current writers")

// The JUnit file CI systems read, pinned as a whole: a passing, a failing
// and an unevaluable model (evaluation times zeroed, the one thing that varies).
func TestJUnitGolden(t *testing.T) {
	dir := setupModels(t, "lenet5.onnx", "mlp.onnx", "broken.onnx")
	bpath := filepath.Join(dir, "baseline.json")
	fe := &fakeEval{
		correct: map[string]map[int]int{"lenet5.onnx": {32: 990, 64: 992}, "mlp.onnx": {32: 975, 64: 985}},
		fail:    map[string]error{"broken.onnx": errors.New(`node "conv9" (Foo): unsupported op`)},
	}
	b := &Baseline{Version: BaselineVersion, TolerancePP: 0.5, Confidence: 0.95, Models: []Model{
		{Name: "lenet5", Path: "lenet5.onnx", Data: "mnist:test:1000", Gates: []Gate{{T: 32, Accuracy: 0.99, N: 1000}, {T: 64, Accuracy: 0.992, N: 1000}}},
		{Name: "mlp", Path: "mlp.onnx", Data: "mnist:test:1000", Gates: []Gate{{T: 32, Accuracy: 0.99, N: 1000}, {T: 64, Accuracy: 0.985, N: 1000}}},
		{Name: "broken", Path: "broken.onnx", Data: "mnist:test:1000", Gates: []Gate{{T: 32, Accuracy: 0.9, N: 1000}}},
	}}
	rep, err := Check(context.Background(), bpath, b, Options{}, fe.evaluate)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Passed != 3 || rep.Failed != 1 || rep.Errors != 1 {
		t.Fatalf("passed %d, failed %d, errors %d; want 3, 1, 1", rep.Passed, rep.Failed, rep.Errors)
	}
	for i := range rep.Models {
		rep.Models[i].Seconds = 0
	}
	var x bytes.Buffer
	if err := WriteJUnit(&x, rep); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "junit.xml.golden")
	if *update {
		if err := os.WriteFile(path, x.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./eval/ci -run %s -update to create it)", err, t.Name())
	}
	if !bytes.Equal(x.Bytes(), want) {
		t.Errorf("junit differs from %s (rerun with -update if the change is intended)\n--- got ---\n%s", path, x.String())
	}
}
