package importer

import (
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/snnconvert/snnconvert/ann"
)

type opCase struct {
	name  string
	model *mb
	// x is fed to the single graph input; want is the expected first output.
	xShape []int
	x      []float32
	want   []float32
	check  func(t *testing.T, g *ann.Graph)
}

func seq(n int, scale float32) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = float32(i)*scale - 1
	}
	return out
}

func nodeOf(t *testing.T, g *ann.Graph, op ann.Op) *ann.Node {
	t.Helper()
	for _, n := range g.Nodes {
		if n.Op == op {
			return n
		}
	}
	t.Fatalf("no %s node in %v", op, opsOf(g))
	return nil
}

func opsOf(g *ann.Graph) []ann.Op {
	var ops []ann.Op
	for _, n := range g.Nodes {
		ops = append(ops, n.Op)
	}
	return ops
}

// opCases are small models, each exercising one importer feature, with the
// expected outputs worked out by hand.
func opCases() []opCase {
	f16raw := make([]byte, 8)
	for i, v := range []float32{0.5, -2, 1.5, 4} {
		binary.LittleEndian.PutUint16(f16raw[2*i:], f16(v))
	}
	return []opCase{
		{
			// onnx-go's simple graph merges the two operands of Add(x, x).
			name:   "add same operand twice",
			model:  newModel(13).input("x", dtFloat, "N", 3).output("y").node("Add", "add", []string{"x", "x"}, []string{"y"}),
			xShape: []int{2, 3}, x: []float32{1, 2, 3, -1, 0, 5},
			want: []float32{2, 4, 6, -2, 0, 10},
		},
		{
			name: "opset-6 Gemm broadcast alpha beta",
			model: newModel(6).input("x", dtFloat, 1, 2).output("y").
				init(tensorF("W", []int64{2, 2}, []float32{1, 2, 3, 4})). // [K, Out]
				init(tensorF("C", []int64{2}, []float32{10, 20})).
				node("Gemm", "g", []string{"x", "W", "C"}, []string{"y"}, aInt("broadcast", 1), aFloat("alpha", 2), aFloat("beta", 0.5)),
			// y = 2·x·W + 0.5·C; x = [1, 1] -> [2·4+5, 2·6+10 = 13, 22]
			xShape: []int{3, 2}, x: []float32{1, 1, 0, 1, 1, 0},
			want: []float32{13, 22, 11, 18, 7, 14},
			check: func(t *testing.T, g *ann.Graph) {
				if g.Inputs[0].FixedBatch != 1 {
					t.Errorf("FixedBatch = %d, want 1", g.Inputs[0].FixedBatch)
				}
			},
		},
		{
			name: "Conv auto_pad SAME_UPPER asymmetric",
			model: newModel(11).input("x", dtFloat, "N", 1, 3, 3).output("y").
				init(tensorF("W", []int64{1, 1, 2, 2}, []float32{1, 1, 1, 1})).
				node("Conv", "c", []string{"x", "W"}, []string{"y"}, aString("auto_pad", "SAME_UPPER"), aInts("kernel_shape", 2, 2)),
			xShape: []int{1, 1, 3, 3}, x: []float32{1, 2, 3, 4, 5, 6, 7, 8, 9},
			// Pads [0,0,1,1]: each output sums the 2x2 window to its lower right.
			want: []float32{12, 16, 9, 24, 28, 15, 15, 17, 9},
			check: func(t *testing.T, g *ann.Graph) {
				if p := nodeOf(t, g, ann.OpConv).Attrs.Pads; !reflect.DeepEqual(p, []int{0, 0, 1, 1}) {
					t.Errorf("pads %v, want [0 0 1 1]", p)
				}
			},
		},
		{
			name: "float16 initializer",
			model: newModel(13).input("x", dtFloat, "N", 4).output("y").
				init(tensorRaw("s", dtFloat16, []int64{4}, f16raw)).
				node("Mul", "m", []string{"x", "s"}, []string{"y"}),
			xShape: []int{1, 4}, x: []float32{2, 2, 2, 2},
			want: []float32{1, -4, 3, 8},
		},
		{
			name: "uint8 and int8 initializers",
			model: newModel(13).input("x", dtFloat, "N", 2).output("y").
				init(tensorRaw("a", dtUint8, []int64{2}, []byte{200, 3})).
				init(tensorRaw("b", dtInt8, []int64{2}, []byte{0xff, 0x80})).
				node("Cast", "ca", []string{"a"}, []string{"af"}, aInt("to", dtFloat)).
				node("Cast", "cb", []string{"b"}, []string{"bf"}, aInt("to", dtFloat)).
				node("Add", "add1", []string{"x", "af"}, []string{"h"}).
				node("Add", "add2", []string{"h", "bf"}, []string{"y"}),
			xShape: []int{1, 2}, x: []float32{0.5, 0.5},
			want: []float32{199.5, -124.5},
		},
		{
			name: "Dropout opset 12 with bool training_mode",
			model: newModel(13).input("x", dtFloat, "N", 3).output("y").
				init(tensorF("ratio", nil, []float32{0.5})).
				init(tensorRaw("train", dtBool, nil, []byte{0})).
				node("Dropout", "drop", []string{"x", "ratio", "train"}, []string{"y", "mask"}),
			xShape: []int{1, 3}, x: []float32{1, -2, 3},
			want:  []float32{1, -2, 3},
			check: func(t *testing.T, g *ann.Graph) { nodeOf(t, g, ann.OpDropout) },
		},
		{
			name: "nodes in reverse order, initializer listed as input",
			model: newModel(9).input("x", dtFloat, "N", 2).input("B", dtFloat, 2).output("y").
				init(tensorF("B", []int64{2}, []float32{1, -1})).
				node("Relu", "r", []string{"h"}, []string{"y"}).
				node("Add", "a", []string{"x", "B"}, []string{"h"}),
			xShape: []int{2, 2}, x: []float32{0, 0, -3, 3},
			want: []float32{1, 0, 0, 2},
			check: func(t *testing.T, g *ann.Graph) {
				if len(g.Inputs) != 1 || g.Inputs[0].Name != "x" {
					t.Errorf("inputs %v, want only x", g.Inputs)
				}
			},
		},
		{
			name: "fixed batch 10 reshape runs at batch 2",
			model: newModel(9).input("x", dtFloat, 10, 2, 2).output("y").
				init(tensorI("s", []int64{2}, []int64{10, 4})).
				node("Reshape", "rs", []string{"x", "s"}, []string{"y"}),
			xShape: []int{2, 2, 2}, x: seq(8, 1), want: seq(8, 1),
			check: func(t *testing.T, g *ann.Graph) {
				if s := nodeOf(t, g, ann.OpReshape).Attrs.Shape; !reflect.DeepEqual(s, []int{4}) {
					t.Errorf("per-sample shape %v, want [4]", s)
				}
			},
		},
		{
			// x.view(x.size(0), -1) with a dynamic batch.
			name: "Shape Gather Unsqueeze Concat Reshape chain",
			model: newModel(13).input("x", dtFloat, "batch", 2, 3).output("y").
				init(tensorI("zero", nil, []int64{0})).
				init(tensorI("ax0", []int64{1}, []int64{0})).
				init(tensorI("minus1", []int64{1}, []int64{-1})).
				node("Shape", "sh", []string{"x"}, []string{"s"}).
				node("Gather", "ga", []string{"s", "zero"}, []string{"b"}, aInt("axis", 0)).
				node("Unsqueeze", "un", []string{"b", "ax0"}, []string{"b1"}).
				node("Concat", "cat", []string{"b1", "minus1"}, []string{"target"}, aInt("axis", 0)).
				node("Reshape", "rs", []string{"x", "target"}, []string{"y"}),
			xShape: []int{1, 2, 3}, x: seq(6, 1), want: seq(6, 1),
			check: func(t *testing.T, g *ann.Graph) {
				if len(g.Nodes) != 1 || g.Shapes["y"][0] != 6 {
					t.Errorf("want the chain folded into one Reshape to [6], got %v", opsOf(g))
				}
			},
		},
		{
			name: "Relu Min Max clamp becomes Clip",
			model: newModel(10).input("x", dtFloat, "N", 4).output("y").
				init(tensorF("one", nil, []float32{1})).
				init(tensorF("mone", nil, []float32{-1})).
				node("Relu", "r", []string{"x"}, []string{"a"}).
				node("Min", "mn", []string{"a", "one"}, []string{"b"}).
				node("Max", "mx", []string{"b", "mone"}, []string{"y"}),
			xShape: []int{1, 4}, x: []float32{-2, 0.5, 1.5, 3},
			want: []float32{0, 0.5, 1, 1},
			check: func(t *testing.T, g *ann.Graph) {
				var clips []ann.Attrs
				for _, n := range g.Nodes {
					if n.Op == ann.OpClip {
						clips = append(clips, n.Attrs)
					}
				}
				if len(clips) != 2 || clips[0].Max != 1 || !math.IsInf(float64(clips[0].Min), -1) || clips[1].Min != -1 || !math.IsInf(float64(clips[1].Max), 1) {
					t.Errorf("clips %+v, want Max=1/Min=-Inf and Min=-1/Max=+Inf", clips)
				}
			},
		},
		{
			name: "Clip opset 11 inputs",
			model: newModel(11).input("x", dtFloat, "N", 3).output("y").
				init(tensorF("lo", nil, []float32{0})).
				init(tensorF("hi", nil, []float32{6})).
				node("Clip", "c", []string{"x", "lo", "hi"}, []string{"y"}),
			xShape: []int{1, 3}, x: []float32{-1, 3, 9},
			want: []float32{0, 3, 6},
		},
		{
			name: "Unsqueeze BatchNormalization Squeeze on features",
			model: newModel(9).input("x", dtFloat, "N", 2).output("y").
				init(tensorF("sc", []int64{2}, []float32{2, 1})).
				init(tensorF("bi", []int64{2}, []float32{0, 1})).
				init(tensorF("mu", []int64{2}, []float32{1, 0})).
				init(tensorF("va", []int64{2}, []float32{4, 1})).
				node("Unsqueeze", "u", []string{"x"}, []string{"x3"}, aInts("axes", 2)).
				node("BatchNormalization", "bn", []string{"x3", "sc", "bi", "mu", "va"}, []string{"b3"}, aFloat("epsilon", 0)).
				node("Squeeze", "s", []string{"b3"}, []string{"y"}, aInts("axes", 2)),
			xShape: []int{1, 2}, x: []float32{3, 2},
			// (3-1)/2·2+0 = 2; (2-0)/1·1+1 = 3
			want: []float32{2, 3},
		},
		{
			name: "Softmax opset 11 over C·H·W",
			model: newModel(11).input("x", dtFloat, "N", 2, 1, 2).output("y").
				node("Softmax", "sm", []string{"x"}, []string{"y"}, aInt("axis", 1)),
			xShape: []int{1, 2, 1, 2}, x: []float32{0, 0, 0, 0},
			want: []float32{0.25, 0.25, 0.25, 0.25},
		},
		{
			name: "NHWC input transposed then Pad opset 11",
			model: newModel(11).input("x", dtFloat, "N", 1, 2, 1).output("y").
				init(tensorI("pads", []int64{8}, []int64{0, 0, 0, 1, 0, 0, 0, 0})).
				node("Transpose", "t", []string{"x"}, []string{"xt"}, aInts("perm", 0, 3, 1, 2)).
				node("Pad", "p", []string{"xt", "pads"}, []string{"y"}),
			xShape: []int{1, 1, 2, 1}, x: []float32{7, 8},
			want: []float32{0, 7, 8},
		},
		{
			name: "uint8 input Cast Div, ArgMax head Cast",
			model: newModel(7).input("x", dtUint8, 1, 3).output("y").
				init(tensorF("k", nil, []float32{255})).
				node("Cast", "c", []string{"x"}, []string{"xf"}, aInt("to", dtFloat)).
				node("Div", "d", []string{"xf", "k"}, []string{"xs"}).
				node("ArgMax", "am", []string{"xs"}, []string{"i"}, aInt("axis", 1), aInt("keepdims", 0)).
				node("Cast", "c2", []string{"i"}, []string{"y"}, aInt("to", dtUint8)),
			xShape: []int{2, 3}, x: []float32{0, 255, 3, 9, 1, 2},
			want: []float32{1, 0},
			check: func(t *testing.T, g *ann.Graph) {
				if g.Inputs[0].DType != "uint8" {
					t.Errorf("input dtype %q, want uint8", g.Inputs[0].DType)
				}
			},
		},
		{
			name: "legacy attribute without type",
			model: newModel(6).input("x", dtFloat, "N", 3).output("y").
				node("LeakyRelu", "lr", []string{"x"}, []string{"y"}, func() []byte {
					b := protowire.AppendTag(appendString(nil, 1, "alpha"), 2, protowire.Fixed32Type)
					return protowire.AppendFixed32(b, math.Float32bits(0.5))
				}()),
			xShape: []int{1, 3}, x: []float32{-2, 0, 2},
			want: []float32{-1, 0, 2},
		},
	}
}

func TestOps(t *testing.T) {
	for _, c := range opCases() {
		t.Run(c.name, func(t *testing.T) {
			g, err := Import(c.model.bytes(), Options{Name: c.name})
			if err != nil {
				t.Fatalf("import: %v", err)
			}
			if c.check != nil {
				c.check(t, g)
			}
			got := runGraph(t, g, &ann.Tensor{Shape: c.xShape, Data: c.x})
			if len(got.Data) != len(c.want) {
				t.Fatalf("output %v (%d values), want %d values", got.Shape, len(got.Data), len(c.want))
			}
			for i := range c.want {
				if math.Abs(float64(got.Data[i]-c.want[i])) > 1e-5 {
					t.Fatalf("output %v, want %v", got.Data, c.want)
				}
			}
		})
	}
}

// TestExternalData imports a model whose weights live in a side file.
func TestExternalData(t *testing.T) {
	dir := t.TempDir()
	raw := make([]byte, 4*6)
	for i := range 6 {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(float32(i+1)))
	}
	if err := os.WriteFile(filepath.Join(dir, "model.onnx.data"), append(make([]byte, 16), raw...), 0o644); err != nil {
		t.Fatal(err)
	}
	m := newModel(13).input("x", dtFloat, "N", 3).output("y").
		init(tensorExternal("W", []int64{2, 3}, "model.onnx.data", 16, 24)).
		node("MatMul", "mm", []string{"x", "Wt"}, []string{"y"}).
		node("Transpose", "t", []string{"W"}, []string{"Wt"})
	path := filepath.Join(dir, "model.onnx")
	if err := os.WriteFile(path, m.bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	g, err := ImportFile(path)
	if err != nil {
		t.Fatal(err)
	}
	got := runGraph(t, g, &ann.Tensor{Shape: []int{1, 3}, Data: []float32{1, 0, -1}})
	if want := []float32{1 - 3, 4 - 6}; !reflect.DeepEqual(got.Data, want) {
		t.Errorf("output %v, want %v", got.Data, want)
	}
	if _, err := Import(m.bytes(), Options{}); err == nil {
		t.Error("external data resolved without a base directory")
	}
}

// TestOutputsCut imports only the part of a graph the chosen output needs.
func TestOutputsCut(t *testing.T) {
	m := newModel(13).input("x", dtFloat, "N", 2).input("labels", dtFloat, "N", 2).output("acc").
		node("Softmax", "sm", []string{"x"}, []string{"p"}).
		node("ArgMax", "a1", []string{"p"}, []string{"i1"}, aInt("axis", 1)).
		node("ArgMax", "a2", []string{"labels"}, []string{"i2"}, aInt("axis", 1)).
		node("Equal", "eq", []string{"i1", "i2"}, []string{"e"}).
		node("ReduceMean", "acc", []string{"e"}, []string{"acc"})
	_, err := Import(m.bytes(), Options{Name: "metric.onnx"})
	if err == nil {
		t.Fatal("metric graph imported")
	}
	for _, w := range []string{`"eq" (Equal`, `"acc" (ReduceMean`, `probably "p"`} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q:\n%v", w, err)
		}
	}
	g, err := Import(m.bytes(), Options{Outputs: []string{"p"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Inputs) != 1 || g.Inputs[0].Name != "x" || !reflect.DeepEqual(g.Outputs, []string{"p"}) {
		t.Errorf("cut graph inputs %v outputs %v", g.Inputs, g.Outputs)
	}
	if _, err := Import(m.bytes(), Options{Outputs: []string{"nope"}}); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("unknown output: %v", err)
	}
}
