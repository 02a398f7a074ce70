package gorgonnx

import (
	"errors"

	"fmt"
	"google.golang.org/protobuf/encoding/protowire"
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

// TestBundledModelsAgreeWithANN is the check: on every bundled
// model, gorgonia (after the rewrites named in Supported's reason) and
// importer+ann agree within 1e-4 max abs on MNIST test images.
func TestBundledModelsAgreeWithANN(t *testing.T) {
	cases := []struct {
		model  string
		images int      // gorgonia is slow on convolutions; keep the run short
		notes  []string // parts of Supported's reason: the rewrites applied
	}{
		{"mlp", 64, nil},
		{"lenet5", 64, nil},
		{"lenet5_nobias", 64, nil},
		{"resnet_small", 32, nil},
		{"lenet5_avg", 64, []string{`"/net/net.2/Pad" (Pad): all pads are zero: Identity`, `"/net/net.5/AveragePool" (AveragePool): Conv with a 16x16x2x2 weight of 1/4`}},
		{"cnn_bn", 32, []string{`(Pad): all pads are zero`, `"/net/net.10/AveragePool" (AveragePool): Conv with a 64x64x2x2 weight of 1/4`}},
		{"cnn_relu6", 64, []string{`"/net/net.8/Clip" (Clip): Max(·, 0) then Min(·, 6)`}},
	}
	var set *dataset.Set
	for _, tc := range cases {
		t.Run(tc.model, func(t *testing.T) {
			path := filepath.Join(modelsDir(), tc.model+".onnx")
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("bundled model missing: %v", err)
			}
			ok, why := Supported(b)
			if !ok {
				t.Fatalf("gorgonnx cannot run %s: %s", tc.model, why)
			}
			if len(tc.notes) == 0 && why != "" {
				t.Errorf("nothing should be rewritten, Supported says %q", why)
			}
			for _, n := range tc.notes {
				if !strings.Contains(why, n) {
					t.Errorf("Supported's reason %q does not name the rewrite %q", why, n)
				}
			}
			if set == nil {
				if set, err = dataset.Load("mnist:test:64", dataset.Preprocessing{Layout: "NCHW", Scale: 1.0 / 255}); err != nil {
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

// corpusSupported is the measured set of corpus models gorgonnx runs (aclex
// and verivital only after the Pad and AveragePool rewrites); every other
// model must be refused with a reason rather than crash or mis-run.
var corpusSupported = map[string]bool{
	"aclex_k210_allconv_pt18":        true,
	"verivital_avgpool_pt16":         true,
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

// poolModel is x [N,2,4,4] → Conv 1x1 (2→2) → op → y, with op built by the
// caller, as ONNX bytes.
func poolModel(op []byte, extraInits ...[]byte) []byte {
	return poolModelOpset(13, op, extraInits...)
}

// poolModelOpset is poolModel declaring the given ai.onnx opset.
func poolModelOpset(version uint64, op []byte, extraInits ...[]byte) []byte {
	var g []byte
	node := func(b []byte) {
		g = protowire.AppendTag(g, graphNode, protowire.BytesType)
		g = protowire.AppendBytes(g, b)
	}
	node(encodeNode("conv", "Conv", []string{"x", "w"}, []string{"c"}, [][]byte{encodeIntsAttr("kernel_shape", []int64{1, 1})}))
	node(op)
	for _, t := range append([][]byte{encodeFloatTensor("w", []int64{2, 2, 1, 1}, []float32{1, 0, 0, 1})}, extraInits...) {
		g = protowire.AppendTag(g, graphInit, protowire.BytesType)
		g = protowire.AppendBytes(g, t)
	}
	var in []byte
	for _, d := range []uint64{1, 2, 4, 4} {
		dim := protowire.AppendTag(nil, dimValue, protowire.VarintType)
		dim = protowire.AppendVarint(dim, d)
		in = protowire.AppendTag(in, shapeDim, protowire.BytesType)
		in = protowire.AppendBytes(in, dim)
	}
	tt := protowire.AppendTag(nil, tensorElem, protowire.VarintType)
	tt = protowire.AppendVarint(tt, elemFloat)
	tt = protowire.AppendTag(tt, tensorShape, protowire.BytesType)
	tt = protowire.AppendBytes(tt, in)
	typ := protowire.AppendTag(nil, typeTensor, protowire.BytesType)
	typ = protowire.AppendBytes(typ, tt)
	vi := protowire.AppendTag(nil, valueName, protowire.BytesType)
	vi = protowire.AppendString(vi, "x")
	vi = protowire.AppendTag(vi, valueType, protowire.BytesType)
	vi = protowire.AppendBytes(vi, typ)
	g = protowire.AppendTag(g, graphInput, protowire.BytesType)
	g = protowire.AppendBytes(g, vi)
	out := protowire.AppendTag(nil, valueName, protowire.BytesType)
	out = protowire.AppendString(out, "y")
	g = protowire.AppendTag(g, 12, protowire.BytesType) // GraphProto.output
	g = protowire.AppendBytes(g, out)

	m := protowire.AppendTag(nil, 1, protowire.VarintType) // ModelProto.ir_version
	m = protowire.AppendVarint(m, 7)
	opset := protowire.AppendTag(nil, opsetVer, protowire.VarintType)
	opset = protowire.AppendVarint(opset, version)
	m = protowire.AppendTag(m, modelOpset, protowire.BytesType)
	m = protowire.AppendBytes(m, opset)
	m = protowire.AppendTag(m, modelGraph, protowire.BytesType)
	return protowire.AppendBytes(m, g)
}

func encodeIntAttr(name string, v int64) []byte {
	b := protowire.AppendTag(nil, attrName, protowire.BytesType)
	b = protowire.AppendString(b, name)
	b = protowire.AppendTag(b, attrInt, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(v))
	b = protowire.AppendTag(b, attrType, protowire.VarintType)
	return protowire.AppendVarint(b, 2) // AttributeProto.INT
}

func encodeFloatAttr(name string, v float32) []byte {
	b := protowire.AppendTag(nil, attrName, protowire.BytesType)
	b = protowire.AppendString(b, name)
	b = protowire.AppendTag(b, attrFloat, protowire.Fixed32Type)
	b = protowire.AppendFixed32(b, math.Float32bits(v))
	b = protowire.AppendTag(b, attrType, protowire.VarintType)
	return protowire.AppendVarint(b, 1) // AttributeProto.FLOAT
}

func encodeStringAttr(name, v string) []byte {
	b := protowire.AppendTag(nil, attrName, protowire.BytesType)
	b = protowire.AppendString(b, name)
	b = protowire.AppendTag(b, attrString, protowire.BytesType)
	b = protowire.AppendString(b, v)
	b = protowire.AppendTag(b, attrType, protowire.VarintType)
	return protowire.AppendVarint(b, 3) // AttributeProto.STRING
}

func encodeInt64Tensor(name string, v []int64) []byte {
	b := protowire.AppendTag(nil, tensorDims, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(len(v)))
	b = protowire.AppendTag(b, tensorDataType, protowire.VarintType)
	b = protowire.AppendVarint(b, elemInt64)
	b = protowire.AppendTag(b, tensorName, protowire.BytesType)
	b = protowire.AppendString(b, name)
	for _, x := range v {
		b = protowire.AppendTag(b, tensorInt64s, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(x))
	}
	return b
}

// TestRewrites checks each rewrite on a small model: applied where exact
// (and then agreeing with importer+ann), refused with the reason otherwise.
func TestRewrites(t *testing.T) {
	k2 := encodeIntsAttr("kernel_shape", []int64{2, 2})
	pool := func(attrs ...[]byte) []byte {
		return encodeNode("pool", "AveragePool", []string{"c"}, []string{"y"}, append([][]byte{k2}, attrs...))
	}
	cases := []struct {
		name  string
		model []byte
		ok    bool
		why   string
	}{
		{"avgpool stride 2", poolModel(pool(encodeIntsAttr("strides", []int64{2, 2}))), true,
			`node "pool" (AveragePool): Conv with a 2x2x2x2 weight of 1/4 on the channel diagonal`},
		{"avgpool stride 1", poolModel(pool()), true, "Conv with a 2x2x2x2 weight"},
		{"avgpool padded", poolModel(pool(encodeIntsAttr("pads", []int64{1, 1, 1, 1}))), false,
			`node "pool" (AveragePool): no exact rewrite: pads [1 1 1 1]`},
		{"avgpool ceil_mode", poolModel(pool(encodeIntAttr("ceil_mode", 1))), false, "no exact rewrite: ceil_mode=1"},
		{"avgpool 3-D kernel", poolModel(encodeNode("pool", "AveragePool", []string{"c"}, []string{"y"},
			[][]byte{encodeIntsAttr("kernel_shape", []int64{2, 2, 2})})), false, "not a small 2-D kernel"},
		{"zero pad", poolModel(encodeNode("pad", "Pad", []string{"c", "p"}, []string{"y"}, nil),
			encodeInt64Tensor("p", make([]int64, 8))), true, `node "pad" (Pad): all pads are zero: Identity`},
		{"non-zero pad", poolModel(encodeNode("pad", "Pad", []string{"c", "p"}, []string{"y"}, nil),
			encodeInt64Tensor("p", []int64{0, 0, 1, 1, 0, 0, 1, 1})), false, "no exact rewrite: non-zero pads [0 0 1 1 0 0 1 1]"},
		{"reflect pad", poolModel(encodeNode("pad", "Pad", []string{"c", "p"}, []string{"y"}, [][]byte{encodeStringAttr("mode", "reflect")}),
			encodeInt64Tensor("p", make([]int64, 8))), false, `no exact rewrite: mode "reflect"`},
		{"clip", poolModel(encodeNode("clip", "Clip", []string{"c", "lo", "hi"}, []string{"y"}, nil),
			encodeFloatTensor("lo", nil, []float32{-0.25}), encodeFloatTensor("hi", nil, []float32{0.5})), true,
			`node "clip" (Clip): Max(·, -0.25) then Min(·, 0.5)`},
		{"clip max only", poolModel(encodeNode("clip", "Clip", []string{"c", "", "hi"}, []string{"y"}, nil),
			encodeFloatTensor("hi", nil, []float32{0.5})), true, `node "clip" (Clip): Min(·, 0.5)`},
		{"clip opset 6 attributes", poolModelOpset(6, encodeNode("clip", "Clip", []string{"c"}, []string{"y"},
			[][]byte{encodeFloatAttr("min", -0.25), encodeFloatAttr("max", 0.5)})), true,
			`node "clip" (Clip): Max(·, -0.25) then Min(·, 0.5)`},
		{"clip computed bound", poolModel(encodeNode("clip", "Clip", []string{"c", "x"}, []string{"y"}, nil)), false,
			`no exact rewrite: bound "x" is not a float32 constant`},
	}
	x := ann.NewTensor(1, 2, 4, 4)
	for i := range x.Data {
		x.Data[i] = float32(i%7) / 7
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ok, why := Supported(tc.model)
			if ok != tc.ok || !strings.Contains(why, tc.why) {
				t.Fatalf("Supported = %v, %q; want %v with %q", ok, why, tc.ok, tc.why)
			}
			got, err := Run(tc.model, x)
			if !ok {
				if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), tc.why) {
					t.Fatalf("Run on an unsupported model: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			g, err := importer.Import(tc.model, importer.Options{Name: tc.name})
			if err != nil {
				t.Fatal(err)
			}
			e, err := ann.NewExecutor(g, ann.ExecOptions{})
			if err != nil {
				t.Fatal(err)
			}
			want, err := e.Run(map[string]*ann.Tensor{"x": x})
			if err != nil {
				t.Fatal(err)
			}
			w := want[g.Outputs[0]]
			if !slices.Equal(got.Shape, w.Shape) {
				t.Fatalf("gorgonia shape %v, ann %v", got.Shape, w.Shape)
			}
			if d := maxAbsDiff(got.Data, w.Data); d > 1e-6 {
				t.Fatalf("max |gorgonia - ann| = %g", d)
			}
		})
	}
}
