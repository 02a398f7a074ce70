package convert

import (
	"bufio"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/snnconvert/snnconvert/ann"
	"github.com/snnconvert/snnconvert/eval/dataset"
	"github.com/snnconvert/snnconvert/importer"
)

// bundled lists models/MANIFEST.json entries whose file exists.
func bundled(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("../models/MANIFEST.json")
	if err != nil {
		t.Skipf("no bundled models manifest: %v", err)
	}
	var m struct {
		Models []struct{ File string } `json:"models"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, e := range m.Models {
		p := filepath.Join("../models", e.File)
		if _, err := os.Stat(p); err == nil {
			files = append(files, p)
		}
	}
	return files
}

func setTensor(s *dataset.Set, n int) *ann.Tensor {
	n = min(n, s.Len())
	return &ann.Tensor{Shape: append([]int{n}, s.Shape...), Data: s.X[:n*s.SampleSize()]}
}

// checkPreserved runs g and its canonical form on x and compares the
// canonical output with the original value of the same name (the input of a
// stripped head, or the output itself).
func checkPreserved(t *testing.T, g, c *ann.Graph, x *ann.Tensor) float64 {
	t.Helper()
	want := run(t, g, x)
	xc := x
	if ci, gi := c.Inputs[0].Shape, g.Inputs[0].Shape; !equalInts(ci, gi) {
		tr := g.Consumers(g.Inputs[0].Name)
		if len(tr) != 1 || tr[0].Op != ann.OpTranspose {
			t.Fatalf("canonical input %v differs from %v without an input Transpose", ci, gi)
		}
		xc = permuteBatch(x, tr[0].Attrs.Perm)
	}
	got := run(t, c, xc)
	ref, ok := want[c.Outputs[0]]
	if !ok {
		t.Fatalf("canonical output %q is not a value of the imported graph", c.Outputs[0])
	}
	e := relErr(got[c.Outputs[0]].Data, ref.Data)
	if e > 1e-5 {
		t.Errorf("canonical output %q differs from the imported graph's: relative error %g", c.Outputs[0], e)
	}
	return e
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestBundledModels: every bundled model keeps its outputs through the passes
// and converts; the log reports conversion time and thresholds per layer.
func TestBundledModels(t *testing.T) {
	files := bundled(t)
	if len(files) == 0 {
		t.Skip("no bundled model has been trained yet")
	}
	for _, path := range files {
		name := strings.TrimSuffix(filepath.Base(path), ".onnx")
		t.Run(name, func(t *testing.T) {
			g, err := importer.ImportFile(path)
			if err != nil {
				t.Fatalf("import: %v", err)
			}
			pre, ok := dataset.PreprocessingFor(path)
			if !ok {
				t.Fatalf("no preprocessing for %s", path)
			}
			test, err := dataset.Load("mnist:test:256", pre)
			if err != nil {
				t.Fatal(err)
			}
			c, _, err := Canonicalize(g, Options{})
			if err != nil {
				t.Fatalf("Canonicalize: %v", err)
			}
			e := checkPreserved(t, g, c, setTensor(test, 256))
			calib, err := dataset.Load("mnist:train:500", pre)
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			net, rep, err := Convert(g, Options{Calib: calib, CalibName: "mnist:train:500"})
			if err != nil {
				t.Fatalf("Convert: %v", err)
			}
			t.Logf("%s: passes keep outputs to %.2g; converted in %v (calibration %v), %d IF neurons, %d nodes, head stripped %v",
				name, e, time.Since(start).Round(time.Millisecond), rep.CalibDuration.Round(time.Millisecond), rep.Neurons, len(net.Nodes), rep.StrippedHead)
			for _, l := range rep.Nodes {
				if l.Op == "IF" {
					t.Logf("  %-14s %-12v θ [%.4g, %.4g]", l.Node, l.Shape, l.ThetaMin, l.ThetaMax)
				}
			}
			if rep.Neurons == 0 || net.Meta.Normalization.CalibSHA256 != calib.SHA256() && len(net.Meta.Normalization.CalibSHA256) != 64 {
				t.Errorf("neurons %d, calibration hash %q", rep.Neurons, net.Meta.Normalization.CalibSHA256)
			}
		})
	}
}

// corpusRow is one row of the shared corpus MANIFEST.tsv.
type corpusRow struct{ name, tier, file string }

func corpusRows(t *testing.T) (string, []corpusRow) {
	t.Helper()
	dir := dataset.CorpusDir()
	f, err := os.Open(filepath.Join(dir, "MANIFEST.tsv"))
	if err != nil {
		t.Skipf("shared ONNX corpus not found at %s (%v): corpus tests skipped", dir, err)
	}
	defer f.Close()
	var rows []corpusRow
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	sc.Scan()
	for sc.Scan() {
		c := strings.Split(sc.Text(), "\t")
		if len(c) > 3 {
			rows = append(rows, corpusRow{c[0], c[1], c[2]})
		}
	}
	return dir, rows
}

// corpusRefusals: what each negative corpus model must be refused for; an
// empty entry means it converts (valid graph, garbage weights).
var corpusRefusals = map[string][]string{
	"NEG_cifar100edge_selu_untrained": {"(Selu): non-ReLU hidden activation"},
	"NEG_eran_sigmoid_6x200":          {"(Sigmoid): non-ReLU hidden activation"},
	"NEG_akinobu_tf1_accuracy_graph":  {"inputs"},
	"NEG_ccol_mnist_untrained_pt17":   nil,
}

// TestCorpus: every convertible corpus model keeps its outputs through the
// passes (on its reference inputs) and converts; negative ones are refused
// for their reason.
func TestCorpus(t *testing.T) {
	dir, rows := corpusRows(t)
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			g, err := importer.ImportFile(filepath.Join(dir, r.file))
			if err != nil {
				if want := corpusRefusals[r.name]; len(want) > 0 {
					t.Logf("refused already by the importer: %v", err)
					return
				}
				t.Skipf("importer cannot import it yet: %v", err)
			}
			want, neg := corpusRefusals[r.name]
			if r.tier != "model" && !neg {
				t.Fatalf("negative model %s has no expected refusal in the table", r.name)
			}
			if neg && len(want) > 0 {
				rs := Refusals(g)
				all := ""
				for _, x := range rs {
					all += x.String() + "\n"
				}
				for _, w := range want {
					if !strings.Contains(all, w) {
						t.Errorf("refusals %q lack %q", all, w)
					}
				}
				return
			}
			ref, err := dataset.Load("npz:"+filepath.Join(dir, "refs", r.name+".npz"), dataset.Preprocessing{})
			if err != nil {
				t.Skipf("no reference inputs: %v", err)
			}
			x := setTensor(ref, ref.Len())
			x.Shape = append([]int{ref.Len()}, g.Inputs[0].Shape...)
			c, logs, err := Canonicalize(g, Options{})
			if err != nil {
				t.Fatalf("Canonicalize: %v", err)
			}
			e := checkPreserved(t, g, c, x)
			var changed []string
			for _, l := range logs {
				if len(l.Changes) > 0 {
					changed = append(changed, l.Pass)
				}
			}
			net, rep, err := Convert(g, Options{Calib: tensorSource{x}})
			var re *RefusalError
			if errors.As(err, &re) {
				t.Fatalf("refused: %v", err)
			}
			if err != nil {
				t.Fatalf("Convert: %v", err)
			}
			t.Logf("outputs kept to %.2g by passes %v; %d SNN nodes, %d IF neurons, head %v, %d warnings",
				e, changed, len(net.Nodes), rep.Neurons, rep.StrippedHead, len(rep.Warnings))
		})
	}
}

// BenchmarkConvert converts bundled lenet5 with 1000 calibration images.
func BenchmarkConvert(b *testing.B) {
	path := "../models/lenet5.onnx"
	g, err := importer.ImportFile(path)
	if err != nil {
		b.Skipf("lenet5: %v", err)
	}
	pre, _ := dataset.PreprocessingFor(path)
	calib, err := dataset.Load("mnist:train:1000", pre)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("canonicalize", func(b *testing.B) {
		for b.Loop() {
			if _, _, err := Canonicalize(g, Options{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("convert", func(b *testing.B) {
		for b.Loop() {
			if _, _, err := Convert(g, Options{Calib: calib}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
