package importer

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/snnconvert/snnconvert/ann"
	"github.com/snnconvert/snnconvert/eval/dataset"
	"github.com/snnconvert/snnconvert/models"
)

// TestBundledModels imports every model in models/MANIFEST.json and checks
// that the ann executor classifies exactly as many of the 10,000 MNIST test
// images correctly as PyTorch did when the model was trained.
func TestBundledModels(t *testing.T) {
	man, err := models.ReadManifest(filepath.Join(models.Dir(), "MANIFEST.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(man.Models) == 0 {
		t.Fatal("models/MANIFEST.json lists no models")
	}
	n := 10000
	if testing.Short() {
		n = 1000
	}
	for _, e := range man.Models {
		t.Run(e.Name, func(t *testing.T) {
			path := filepath.Join(models.Dir(), e.File)
			if _, err := os.Stat(path); err != nil {
				t.Fatalf("listed in MANIFEST.json but missing: %v", err)
			}
			g, err := ImportFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if len(g.Inputs) != 1 || g.Inputs[0].Name != e.Input || len(g.Outputs) != 1 || g.Outputs[0] != e.Output {
				t.Fatalf("inputs %v outputs %v, manifest says %s -> %s", g.Inputs, g.Outputs, e.Input, e.Output)
			}
			p := e.Preprocessing
			set, err := dataset.Load("mnist:test", dataset.Preprocessing{Layout: dataset.Layout(p.Layout), Shape: p.Shape, Scale: p.Scale, Mean: p.Mean, Std: p.Std})
			if err != nil {
				t.Fatal(err)
			}
			correct := classify(t, g, set, n)
			t.Logf("%-13s %d nodes, %d/%d correct (manifest: %d/%d)", e.Name, len(g.Nodes), correct, n, e.TestCorrect, e.TestSamples)
			if n == e.TestSamples && correct != e.TestCorrect {
				t.Errorf("ann classifies %d/%d correctly, PyTorch %d/%d", correct, n, e.TestCorrect, e.TestSamples)
			}
		})
	}
}

// classify runs the first n samples of set through g and counts argmax hits.
func classify(t *testing.T, g *ann.Graph, set *dataset.Set, n int) int {
	t.Helper()
	ex, err := ann.NewExecutor(g, ann.ExecOptions{Workers: execWorkers})
	if err != nil {
		t.Fatal(err)
	}
	defer runtime.KeepAlive(ex)
	const batch = 500
	shape := append([]int{batch}, set.SampleShape()...)
	buf := make([]float32, ann.Numel(shape))
	correct := 0
	for from := 0; from < n; from += batch {
		b := min(batch, n-from)
		shape[0] = b
		x := buf[:b*set.SampleSize()]
		if err := set.Batch(x, from, b); err != nil {
			t.Fatal(err)
		}
		out, err := ex.Run(map[string]*ann.Tensor{g.Inputs[0].Name: {Shape: shape, Data: x}})
		if err != nil {
			t.Fatal(err)
		}
		y := out[g.Outputs[0]]
		k := len(y.Data) / b
		for i := 0; i < b; i++ {
			row := y.Data[i*k : (i+1)*k]
			best := 0
			for j, v := range row {
				if v > row[best] {
					best = j
				}
			}
			if best == set.Labels[from+i] {
				correct++
			}
		}
	}
	return correct
}
