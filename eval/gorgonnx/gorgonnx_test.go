package gorgonnx

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/snnconvert/snnconvert/ann"
	"github.com/snnconvert/snnconvert/eval/dataset"
	"github.com/snnconvert/snnconvert/importer"
	"github.com/snnconvert/snnconvert/internal/npz"
)

func modelsDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "models")
}

func maxAbsDiff(a, b []float32) float64 {
	m := 0.0
	for i := range a {
		m = max(m, math.Abs(float64(a[i])-float64(b[i])))
	}
	return m
}

func runANN(t *testing.T, path string, x *ann.Tensor) *ann.Tensor {
	t.Helper()
	g, err := importer.ImportFile(path)
	if err != nil {
		t.Fatalf("importer: %v", err)
	}
	e, err := ann.NewExecutor(g, ann.ExecOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out, err := e.Run(map[string]*ann.Tensor{g.Inputs[0].Name: x})
	if err != nil {
		t.Fatal(err)
	}
	return out[g.Outputs[0]].Clone()
}

// TestBundledModelsAgreeWithANN is the check: on the bundled models
// gorgonnx supports, gorgonia and importer+ann agree within 1e-4 max abs on
// MNIST test images; the others must be refused with the reason.
func TestBundledModelsAgreeWithANN(t *testing.T) {
	cases := []struct {
		model     string
		images    int // gorgonia is slow on convolutions; keep the run short
		supported bool
		reason    string // for unsupported models: a part of the reason
	}{
		{"mlp", 300, true, ""},
		{"lenet5", 300, true, ""},
		{"resnet_small", 100, true, ""},
		{"lenet5_avg", 0, false, "AveragePool"},
		{"cnn_relu6", 0, false, "Clip"},
		{"cnn_bn", 0, false, "op not implemented"},
	}
	var set *dataset.Set
	for _, tc := range cases {
		t.Run(tc.model, func(t *testing.T) {
			path := filepath.Join(modelsDir(), tc.model+".onnx")
			b, err := os.ReadFile(path)
			if err != nil {
				t.Skipf("bundled model not trained yet: %v", err)
			}
			ok, why := Supported(b)
			if ok != tc.supported || !strings.Contains(why, tc.reason) {
				t.Fatalf("Supported = %v, %q; want %v with a reason containing %q", ok, why, tc.supported, tc.reason)
			}
			if !ok {
				_, err := Run(b, ann.NewTensor(1, 1, 28, 28))
				if !errors.Is(err, ErrUnsupported) {
					t.Fatalf("Run on an unsupported model: got %v, want ErrUnsupported", err)
				}
				t.Logf("unsupported, as expected: %s", why)
				return
			}
			if set == nil {
				if set, err = dataset.Load("mnist:test:300", dataset.Preprocessing{Layout: "NCHW", Scale: 1.0 / 255}); err != nil {
					t.Fatal(err)
				}
			}
			images := tc.images
			x := &ann.Tensor{Shape: []int{images, 1, 28, 28}, Data: set.X[:images*784]}
			want := runANN(t, path, x)
			got, err := Run(b, x)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got.Shape, want.Shape) {
				t.Fatalf("gorgonia shape %v, ann %v", got.Shape, want.Shape)
			}
			d := maxAbsDiff(got.Data, want.Data)
			t.Logf("%d images: max |gorgonia - ann| = %.3g", images, d)
			if d > 1e-4 {
				t.Fatalf("max abs difference %g > 1e-4", d)
			}
			// The batch-1 Gemm trap: the same single image run twice must give
			// the same (correct) answer twice.
			one := &ann.Tensor{Shape: []int{1, 1, 28, 28}, Data: set.X[:784]}
			for r := range 2 {
				y, err := Run(b, one)
				if err != nil {
					t.Fatal(err)
				}
				if d := maxAbsDiff(y.Data, want.Data[:len(y.Data)]); d > 1e-4 {
					t.Fatalf("batch-1 run %d differs from ann by %g", r, d)
				}
			}
		})
	}
}

// corpusSupported is the measured set of corpus models gorgonnx runs; every
// other model must be refused with a reason rather than crash or mis-run.
var corpusSupported = map[string]bool{
	"mnistfc_256x2_pt13":             true,
	"ohhmkar_mlp_tf2onnx117":         true,
	"vnn22_cifar_base_allconv_pt111": true,
	"vnn_resnet2b_pt18":              true,
	"zoo_mnist8_cntk":                true,
}

// TestCorpus runs every third-party model gorgonnx supports against
// onnxruntime's reference outputs, and checks the refusals name their reason.
func TestCorpus(t *testing.T) {
	dir := dataset.CorpusDir()
	refs, err := filepath.Glob(filepath.Join(dir, "refs", "*.npz"))
	if err != nil || len(refs) == 0 {
		t.Skipf("third-party ONNX corpus not found at %s (set SNNCONVERT_CORPUS or place it at ../shared/onnx-corpus)", dir)
	}
	for _, ref := range refs {
		name := strings.TrimSuffix(filepath.Base(ref), ".npz")
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, "models", name+".onnx")
			if strings.HasPrefix(name, "NEG_") {
				path = filepath.Join(dir, "negative", name+".onnx")
			}
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			ok, why := Supported(b)
			if ok != corpusSupported[name] {
				t.Fatalf("Supported = %v (%s), measured %v", ok, why, corpusSupported[name])
			}
			if !ok {
				if why == "" {
					t.Fatal("unsupported without a reason")
				}
				t.Logf("unsupported: %s", why)
				return
			}
			arrs, err := npz.ReadFile(ref)
			if err != nil {
				t.Fatal(err)
			}
			x, y := arrs["x"], arrs["ort_output"]
			got, err := Run(b, &ann.Tensor{Shape: x.Shape, Data: x.Data})
			if err != nil {
				t.Fatalf("supported but failed: %v", err)
			}
			scale := 0.0
			for _, v := range y.Data {
				scale = max(scale, math.Abs(float64(v)))
			}
			rel := maxAbsDiff(got.Data, y.Data) / scale
			t.Logf("%d samples: max rel error vs onnxruntime %.3g", x.Shape[0], rel)
			if rel > 1e-4 {
				t.Fatalf("max rel error %g > 1e-4", rel)
			}
		})
	}
}

func TestMalformed(t *testing.T) {
	good, err := os.ReadFile(filepath.Join(modelsDir(), "lenet5.onnx"))
	if err != nil {
		t.Skipf("bundled model not trained yet: %v", err)
	}
	cases := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"garbage", []byte("definitely not protobuf \xff\xff\xff")},
		{"truncated", good[:len(good)/2]},
		{"header only", good[:64]},
	}
	x := ann.NewTensor(1, 1, 28, 28)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if ok, why := Supported(tc.data); ok || why == "" {
				t.Fatalf("Supported = %v, %q; want false with a reason", ok, why)
			}
			if _, err := Run(tc.data, x); err == nil {
				t.Fatal("Run accepted a malformed model")
			}
		})
	}
	if _, err := Run(good, ann.NewTensor(1, 3, 28, 28)); err == nil || !strings.Contains(err.Error(), "per-sample dims") {
		t.Fatalf("wrong sample size: got %v", err)
	}
}

// BenchmarkBundled measures images/s of importer+ann and of gorgonia on the
// bundled lenet5 and mlp files.
func BenchmarkBundled(b *testing.B) {
	for _, model := range []string{"lenet5", "mlp"} {
		path := filepath.Join(modelsDir(), model+".onnx")
		data, err := os.ReadFile(path)
		if err != nil {
			b.Logf("skipping %s: %v", model, err)
			continue
		}
		g, err := importer.ImportFile(path)
		if err != nil {
			b.Fatal(err)
		}
		for _, batch := range []int{1, 64} {
			x := ann.NewTensor(batch, 1, 28, 28)
			for i := range x.Data {
				x.Data[i] = float32(i%251) / 251
			}
			b.Run(fmt.Sprintf("%s/ann/batch=%d", model, batch), func(b *testing.B) {
				e, err := ann.NewExecutor(g, ann.ExecOptions{})
				if err != nil {
					b.Fatal(err)
				}
				in := map[string]*ann.Tensor{g.Inputs[0].Name: x}
				b.ReportAllocs()
				for b.Loop() {
					if _, err := e.Run(in); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "images/s")
			})
			b.Run(fmt.Sprintf("%s/gorgonia/batch=%d", model, batch), func(b *testing.B) {
				for b.Loop() {
					if _, err := Run(data, x); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "images/s")
			})
		}
	}
}
