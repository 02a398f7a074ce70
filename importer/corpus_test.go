package importer

import (
	"bufio"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/snnconvert/snnconvert/ann"
	"github.com/snnconvert/snnconvert/eval/dataset"
	"github.com/snnconvert/snnconvert/internal/npz"
)

// corpusRow is one MANIFEST.tsv row.
type corpusRow struct {
	name, tier, file, notes string
}

func readManifest(t *testing.T, dir string) []corpusRow {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "MANIFEST.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var cols map[string]int
	var rows []corpusRow
	for sc.Scan() {
		fields := strings.Split(sc.Text(), "\t")
		if cols == nil {
			cols = map[string]int{}
			for i, c := range fields {
				cols[c] = i
			}
			continue
		}
		get := func(c string) string {
			if i, ok := cols[c]; ok && i < len(fields) {
				return fields[i]
			}
			return ""
		}
		rows = append(rows, corpusRow{name: get("name"), tier: get("tier"), file: get("file"), notes: get("notes")})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return rows
}

func corpusOrSkip(t testing.TB) string {
	dir := dataset.CorpusDir()
	if _, err := os.Stat(filepath.Join(dir, "MANIFEST.tsv")); err != nil {
		t.Skipf("third-party ONNX corpus not found at %s (set SNNCONVERT_CORPUS or place it at ../shared/onnx-corpus): %v", dir, err)
	}
	return dir
}

// runGraph executes g on x ([N, per-sample...]) and returns the first output.
func runGraph(t testing.TB, g *ann.Graph, x *ann.Tensor) *ann.Tensor {
	t.Helper()
	ex, err := ann.NewExecutor(g, ann.ExecOptions{Workers: execWorkers})
	if err != nil {
		t.Fatalf("NewExecutor: %v", err)
	}
	out, err := ex.Run(map[string]*ann.Tensor{g.Inputs[0].Name: x})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	res := out[g.Outputs[0]].Clone()
	// The executor's workers stop when it becomes unreachable.
	runtime.KeepAlive(ex)
	return res
}

// relErr is max|a-b| / max|b|.
func relErr(a, b []float32) float64 {
	var d, m float64
	for i := range b {
		d = math.Max(d, math.Abs(float64(a[i])-float64(b[i])))
		m = math.Max(m, math.Abs(float64(b[i])))
	}
	if m == 0 {
		return d
	}
	return d / m
}

// TestCorpus imports every model of the shared corpus and checks that the ann
// executor reproduces onnxruntime's outputs on the reference inputs.
func TestCorpus(t *testing.T) {
	dir := corpusOrSkip(t)
	rows := readManifest(t, dir)
	if len(rows) < 20 {
		t.Fatalf("MANIFEST lists %d rows, want >= 20", len(rows))
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			g, err := ImportFile(filepath.Join(dir, r.file))
			if r.name == "NEG_akinobu_tf1_accuracy_graph" {
				checkAkinobu(t, dir, r, g, err)
				return
			}
			if err != nil {
				t.Fatalf("import: %v", err)
			}
			ref, err := npz.ReadFile(filepath.Join(dir, "refs", r.name+".npz"))
			if err != nil {
				t.Fatalf("refs: %v", err)
			}
			x, want := ref["x"], ref["ort_output"]
			if len(g.Inputs) != 1 {
				t.Fatalf("graph has %d inputs, want 1", len(g.Inputs))
			}
			got := runGraph(t, g, &ann.Tensor{Shape: x.Shape, Data: x.Data})
			if len(got.Data) != len(want.Data) {
				t.Fatalf("output shape %v, reference %v", got.Shape, want.Shape)
			}
			e := relErr(got.Data, want.Data)
			t.Logf("%-34s nodes=%-3d params=%-8d max rel err %.2e", r.name, len(g.Nodes), paramCount(g), e)
			if e > 1e-4 {
				t.Errorf("max relative error %.3g > 1e-4", e)
			}
		})
	}
}

func paramCount(g *ann.Graph) int {
	n := 0
	for _, p := range g.Params {
		n += len(p.Data)
	}
	return n
}

// checkAkinobu: the graph computes an accuracy over a label input; the
// importer must refuse it naming the metric nodes and suggest the
// classifier's output, and the cut at that output must import and match the
// model's own Softmax.
func checkAkinobu(t *testing.T, dir string, r corpusRow, g *ann.Graph, err error) {
	if err == nil {
		t.Fatalf("the two-input accuracy graph imported without error (%d inputs, outputs %v)", len(g.Inputs), g.Outputs)
	}
	msg := err.Error()
	for _, want := range []string{"Equal", "ReduceMean", "Options.Outputs"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error does not mention %q:\n%s", want, msg)
		}
	}
	t.Logf("refused as expected:\n%s", msg)

	g, err = ImportFileWith(filepath.Join(dir, r.file), Options{Outputs: []string{"y:0"}})
	if err != nil {
		t.Fatalf("cut at y:0: %v", err)
	}
	if len(g.Inputs) != 1 || g.Inputs[0].Name != "x:0" {
		t.Fatalf("cut graph inputs %v, want only x:0", g.Inputs)
	}
	set, err := dataset.Load("mnist:test:1000", dataset.Preprocessing{Layout: dataset.LayoutFlat, Scale: 1.0 / 255})
	if err != nil {
		t.Fatal(err)
	}
	correct := classify(t, g, set, 1000)
	t.Logf("classifier cut at y:0: %d/1000 MNIST test images correct", correct)
	if correct < 900 {
		t.Errorf("the extracted classifier gets %d/1000 right; a trained MNIST MLP gets > 900", correct)
	}
}

// execWorkers is the executor parallelism the tests use (0 = GOMAXPROCS).
const execWorkers = 0
