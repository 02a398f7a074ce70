package ann

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

type feed struct {
	name  string
	shape []int // per-sample
	data  []float32
}

func tensorOf(data []float32, shape ...int) *Tensor {
	return &Tensor{Shape: shape, Data: data}
}

func iota1(n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(i + 1)
	}
	return v
}

// runOne builds a one-node graph and runs it on a batch of `batch` copies of
// the fed samples.
func runOne(t *testing.T, op Op, attrs Attrs, feeds []feed, params map[string]*Tensor, inputs []string, batch int) *Tensor {
	t.Helper()
	g := &Graph{Name: string(op), Params: params, Outputs: []string{"y"}}
	in := map[string]*Tensor{}
	for _, f := range feeds {
		g.Inputs = append(g.Inputs, Value{Name: f.name, Shape: f.shape})
		bt := &Tensor{Shape: append([]int{batch}, f.shape...)}
		for range batch {
			bt.Data = append(bt.Data, f.data...)
		}
		in[f.name] = bt
	}
	g.Nodes = []*Node{{Name: "n", Op: op, Inputs: inputs, Outputs: []string{"y"}, Attrs: attrs}}
	e, err := NewExecutor(g, ExecOptions{Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	out, err := e.Run(in)
	if err != nil {
		t.Fatal(err)
	}
	return out["y"].Clone()
}

func TestOps(t *testing.T) {
	inf := float32(math.Inf(1))
	x := func(shape []int, data []float32) []feed { return []feed{{"x", shape, data}} }
	p := func(kv ...any) map[string]*Tensor {
		m := map[string]*Tensor{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1].(*Tensor)
		}
		return m
	}
	cases := []struct {
		name      string
		op        Op
		attrs     Attrs
		feeds     []feed
		params    map[string]*Tensor
		inputs    []string
		want      []float32
		wantShape []int
	}{
		{"conv 2x2 valid", OpConv, Attrs{}, x([]int{1, 3, 3}, iota1(9)),
			p("w", tensorOf([]float32{1, 1, 1, 1}, 1, 1, 2, 2)), []string{"x", "w"},
			[]float32{12, 16, 24, 28}, []int{1, 2, 2}},
		{"conv asymmetric pads", OpConv, Attrs{Pads: []int{1, 0, 0, 1}}, x([]int{1, 2, 2}, iota1(4)),
			p("w", tensorOf([]float32{1, 1, 1, 1}, 1, 1, 2, 2)), []string{"x", "w"},
			[]float32{3, 2, 10, 6}, []int{1, 2, 2}},
		{"conv stride 2 bias", OpConv, Attrs{Strides: []int{2, 2}}, x([]int{1, 3, 3}, iota1(9)),
			p("w", tensorOf([]float32{2}, 1, 1, 1, 1), "b", tensorOf([]float32{1}, 1)), []string{"x", "w", "b"},
			[]float32{3, 7, 15, 19}, []int{1, 2, 2}},
		{"conv groups", OpConv, Attrs{Group: 2}, x([]int{2, 1, 2}, iota1(4)),
			p("w", tensorOf([]float32{10, 100}, 2, 1, 1, 1)), []string{"x", "w"},
			[]float32{10, 20, 300, 400}, []int{2, 1, 2}},
		{"conv dilation", OpConv, Attrs{Dilations: []int{2, 2}}, x([]int{1, 3, 3}, iota1(9)),
			p("w", tensorOf([]float32{1, 1, 1, 1}, 1, 1, 2, 2)), []string{"x", "w"},
			[]float32{20}, []int{1, 1, 1}},
		{"conv channels bias", OpConv, Attrs{}, x([]int{2, 1, 1}, []float32{1, 2}),
			p("w", tensorOf([]float32{1, 1, 1, -1, 2, 0}, 3, 2, 1, 1), "b", tensorOf([]float32{0, 0, 1}, 3)), []string{"x", "w", "b"},
			[]float32{3, -1, 3}, []int{3, 1, 1}},
		{"dense", OpDense, Attrs{}, x([]int{3}, []float32{1, 2, 3}),
			p("w", tensorOf([]float32{1, 0, 0, 0, 1, 1}, 2, 3), "b", tensorOf([]float32{0.5, -1}, 2)), []string{"x", "w", "b"},
			[]float32{1.5, 4}, []int{2}},
		{"dense rows", OpDense, Attrs{}, x([]int{2, 3}, []float32{1, 2, 3, 0, 0, 1}),
			p("w", tensorOf([]float32{1, 0, 0, 0, 1, 1}, 2, 3)), []string{"x", "w"},
			[]float32{1, 5, 0, 1}, []int{2, 2}},
		{"add per-channel param", OpAdd, Attrs{}, x([]int{2, 1, 2}, iota1(4)),
			p("c", tensorOf([]float32{10, 20}, 2, 1, 1)), []string{"x", "c"},
			[]float32{11, 12, 23, 24}, []int{2, 1, 2}},
		{"sub scalar param first", OpSub, Attrs{}, x([]int{3}, iota1(3)),
			p("c", tensorOf([]float32{1})), []string{"c", "x"},
			[]float32{0, -1, -2}, []int{3}},
		{"mul outer broadcast", OpMul, Attrs{}, []feed{{"a", []int{2, 1}, []float32{1, 2}}, {"b", []int{1, 3}, []float32{10, 20, 30}}},
			nil, []string{"a", "b"},
			[]float32{10, 20, 30, 20, 40, 60}, []int{2, 3}},
		{"mul same input twice", OpMul, Attrs{}, x([]int{3}, []float32{-1, 2, 3}),
			nil, []string{"x", "x"},
			[]float32{1, 4, 9}, []int{3}},
		{"div", OpDiv, Attrs{}, x([]int{2}, []float32{1, 4}),
			p("c", tensorOf([]float32{2, 8}, 2)), []string{"x", "c"},
			[]float32{0.5, 0.5}, []int{2}},
		{"relu", OpRelu, Attrs{}, x([]int{3}, []float32{-1, 0, 2}), nil, []string{"x"}, []float32{0, 0, 2}, []int{3}},
		{"clip open max", OpClip, Attrs{Min: -1, Max: inf}, x([]int{3}, []float32{-2, 0.5, 5}), nil, []string{"x"}, []float32{-1, 0.5, 5}, []int{3}},
		{"clip open min", OpClip, Attrs{Min: -inf, Max: 1}, x([]int{2}, []float32{-2, 3}), nil, []string{"x"}, []float32{-2, 1}, []int{2}},
		{"clipped relu", OpClippedRelu, Attrs{Max: 6}, x([]int{3}, []float32{-1, 3, 7}), nil, []string{"x"}, []float32{0, 3, 6}, []int{3}},
		{"leaky relu", OpLeakyRelu, Attrs{Alpha: 0.1}, x([]int{2}, []float32{-2, 3}), nil, []string{"x"}, []float32{-0.2, 3}, []int{2}},
		{"sigmoid", OpSigmoid, Attrs{}, x([]int{2}, []float32{0, 2}), nil, []string{"x"}, []float32{0.5, 0.880797}, []int{2}},
		{"tanh", OpTanh, Attrs{}, x([]int{2}, []float32{0, 1}), nil, []string{"x"}, []float32{0, 0.7615942}, []int{2}},
		{"selu", OpSelu, Attrs{Alpha: 1.6732632, Gamma: 1.050701}, x([]int{3}, []float32{1, 0, -1}), nil, []string{"x"}, []float32{1.050701, 0, -1.1113307}, []int{3}},
		{"log", OpLog, Attrs{}, x([]int{2}, []float32{1, math.E}), nil, []string{"x"}, []float32{0, 1}, []int{2}},
		{"identity", OpIdentity, Attrs{}, x([]int{2}, []float32{1, 2}), nil, []string{"x"}, []float32{1, 2}, []int{2}},
		{"dropout", OpDropout, Attrs{}, x([]int{2}, []float32{1, 2}), nil, []string{"x"}, []float32{1, 2}, []int{2}},
		{"cast", OpCast, Attrs{}, x([]int{2}, []float32{1, 2}), nil, []string{"x"}, []float32{1, 2}, []int{2}},
		{"maxpool pads are -inf", OpMaxPool, Attrs{Kernel: []int{2, 2}, Pads: []int{1, 1, 1, 1}}, x([]int{1, 2, 2}, []float32{-1, -2, -3, -4}), nil, []string{"x"},
			[]float32{-1, -1, -2, -1, -1, -2, -3, -3, -4}, []int{1, 3, 3}},
		{"maxpool ceil", OpMaxPool, Attrs{Kernel: []int{2, 2}, Strides: []int{2, 2}, CeilMode: true}, x([]int{1, 3, 3}, iota1(9)), nil, []string{"x"},
			[]float32{5, 6, 8, 9}, []int{1, 2, 2}},
		{"maxpool dilation", OpMaxPool, Attrs{Kernel: []int{2, 2}, Dilations: []int{2, 2}}, x([]int{1, 3, 3}, []float32{1, 9, 2, 9, 9, 9, 3, 9, 4}), nil, []string{"x"},
			[]float32{4}, []int{1, 1, 1}},
		{"avgpool exclude pad", OpAveragePool, Attrs{Kernel: []int{2, 2}, Pads: []int{1, 1, 0, 0}}, x([]int{1, 2, 2}, iota1(4)), nil, []string{"x"},
			[]float32{1, 1.5, 2, 2.5}, []int{1, 2, 2}},
		{"avgpool include pad", OpAveragePool, Attrs{Kernel: []int{2, 2}, Pads: []int{1, 1, 0, 0}, CountIncludePad: true}, x([]int{1, 2, 2}, iota1(4)), nil, []string{"x"},
			[]float32{0.25, 0.75, 1, 2.5}, []int{1, 2, 2}},
		{"avgpool ceil clipped", OpAveragePool, Attrs{Kernel: []int{2, 2}, Strides: []int{2, 2}, CeilMode: true, CountIncludePad: true}, x([]int{1, 3, 3}, iota1(9)), nil, []string{"x"},
			[]float32{3, 4.5, 7.5, 9}, []int{1, 2, 2}},
		{"avgpool ceil pads include", OpAveragePool, Attrs{Kernel: []int{3, 3}, Strides: []int{2, 2}, Pads: []int{1, 1, 1, 1}, CeilMode: true, CountIncludePad: true}, x([]int{1, 4, 4}, iota1(16)), nil, []string{"x"},
			[]float32{14.0 / 9, 30.0 / 9, 2, 57.0 / 9, 11, 6, 4.5, 7.5, 4}, []int{1, 3, 3}},
		{"avgpool ceil pads exclude", OpAveragePool, Attrs{Kernel: []int{3, 3}, Strides: []int{2, 2}, Pads: []int{1, 1, 1, 1}, CeilMode: true}, x([]int{1, 4, 4}, iota1(16)), nil, []string{"x"},
			[]float32{3.5, 5, 6, 9.5, 11, 12, 13.5, 15, 16}, []int{1, 3, 3}},
		{"global avgpool", OpGlobalAveragePool, Attrs{}, x([]int{2, 2, 1}, []float32{1, 2, 3, 5}), nil, []string{"x"}, []float32{1.5, 4}, []int{2, 1, 1}},
		{"batchnorm 3d", OpBatchNorm, Attrs{}, x([]int{2, 1, 2}, iota1(4)),
			p("s", tensorOf([]float32{1, 2}, 2), "b", tensorOf([]float32{0, 1}, 2), "m", tensorOf([]float32{1, 3}, 2), "v", tensorOf([]float32{4, 0.25}, 2)),
			[]string{"x", "s", "b", "m", "v"}, []float32{0, 0.5, 1, 5}, []int{2, 1, 2}},
		{"batchnorm 1d", OpBatchNorm, Attrs{}, x([]int{2}, []float32{3, 5}),
			p("s", tensorOf([]float32{1, 2}, 2), "b", tensorOf([]float32{0, 1}, 2), "m", tensorOf([]float32{1, 3}, 2), "v", tensorOf([]float32{4, 0.25}, 2)),
			[]string{"x", "s", "b", "m", "v"}, []float32{1, 9}, []int{2}},
		{"batchnorm 2d [C,L] eps", OpBatchNorm, Attrs{Epsilon: 3}, x([]int{1, 2}, []float32{1, 3}),
			p("s", tensorOf([]float32{1}, 1), "b", tensorOf([]float32{0}, 1), "m", tensorOf([]float32{1}, 1), "v", tensorOf([]float32{1}, 1)),
			[]string{"x", "s", "b", "m", "v"}, []float32{0, 1}, []int{1, 2}},
		{"affine", OpAffine, Attrs{}, x([]int{2, 2}, iota1(4)),
			p("s", tensorOf([]float32{2, -1}, 2), "b", tensorOf([]float32{1, 0}, 2)), []string{"x", "s", "b"},
			[]float32{3, 5, -3, -4}, []int{2, 2}},
		{"flatten", OpFlatten, Attrs{}, x([]int{2, 1, 2}, iota1(4)), nil, []string{"x"}, iota1(4), []int{4}},
		{"reshape", OpReshape, Attrs{Shape: []int{2, 2}}, x([]int{4}, iota1(4)), nil, []string{"x"}, iota1(4), []int{2, 2}},
		{"transpose default", OpTranspose, Attrs{}, x([]int{2, 3}, iota1(6)), nil, []string{"x"}, []float32{1, 4, 2, 5, 3, 6}, []int{3, 2}},
		{"transpose perm", OpTranspose, Attrs{Perm: []int{2, 0, 1}}, x([]int{2, 1, 2}, iota1(4)), nil, []string{"x"}, []float32{1, 3, 2, 4}, []int{2, 2, 1}},
		{"concat with param", OpConcat, Attrs{Axis: 1}, x([]int{1, 2}, []float32{1, 2}),
			p("c", tensorOf([]float32{9}, 1, 1)), []string{"x", "c"}, []float32{1, 2, 9}, []int{1, 3}},
		{"concat inner axis", OpConcat, Attrs{Axis: -1}, []feed{{"a", []int{2, 1}, []float32{1, 2}}, {"b", []int{2, 2}, []float32{3, 4, 5, 6}}},
			nil, []string{"a", "b"}, []float32{1, 3, 4, 2, 5, 6}, []int{2, 3}},
		{"pad constant", OpPad, Attrs{Pads: []int{0, 1, 0, 0, 0, 1}, Value: 9}, x([]int{1, 2, 2}, iota1(4)), nil, []string{"x"},
			[]float32{9, 9, 9, 1, 2, 9, 3, 4, 9}, []int{1, 3, 3}},
		{"pad negative crops", OpPad, Attrs{Pads: []int{-1, 1}}, x([]int{4}, iota1(4)), nil, []string{"x"}, []float32{2, 3, 4, 0}, []int{4}},
		{"softmax", OpSoftmax, Attrs{Axis: -1}, x([]int{3}, []float32{1, 2, 3}), nil, []string{"x"}, []float32{0.09003057, 0.24472847, 0.66524096}, []int{3}},
		{"softmax axis 0", OpSoftmax, Attrs{Axis: 0}, x([]int{2, 2}, []float32{1, 2, 1, 4}), nil, []string{"x"}, []float32{0.5, 0.11920292, 0.5, 0.880797}, []int{2, 2}},
		{"logsoftmax", OpLogSoftmax, Attrs{Axis: 0}, x([]int{3}, []float32{1, 2, 3}), nil, []string{"x"}, []float32{-2.4076059, -1.4076059, -0.4076059}, []int{3}},
		{"argmax first wins", OpArgMax, Attrs{Axis: 0}, x([]int{4}, []float32{3, 1, 3, 2}), nil, []string{"x"}, []float32{0}, []int{}},
		{"argmax keepdims", OpArgMax, Attrs{Axis: 1, KeepDims: true}, x([]int{2, 3}, []float32{1, 5, 2, 7, 0, 7}), nil, []string{"x"}, []float32{1, 0}, []int{2, 1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			const batch = 3
			got := runOne(t, tc.op, tc.attrs, tc.feeds, tc.params, tc.inputs, batch)
			if !slices.Equal(got.Shape, append([]int{batch}, tc.wantShape...)) {
				t.Fatalf("shape %v, want [%d %v]", got.Shape, batch, tc.wantShape)
			}
			n := len(tc.want)
			for b := range batch {
				for i, w := range tc.want {
					g := got.Data[b*n+i]
					if math.Abs(float64(g-w)) > 1e-6*max(1, math.Abs(float64(w))) {
						t.Fatalf("sample %d: got %v, want %v", b, got.Data[b*n:(b+1)*n], tc.want)
					}
				}
			}
		})
	}
}

// naiveConv is the ONNX Conv definition written out in float64 loops.
func naiveConv(x []float32, c, h, w int, wt *Tensor, bias []float32, a Attrs, oh, ow int) []float64 {
	o, cg, kh, kw := wt.Shape[0], wt.Shape[1], wt.Shape[2], wt.Shape[3]
	g := max(a.Group, 1)
	og := o / g
	out := make([]float64, o*oh*ow)
	for oc := range o {
		gi := oc / og
		for y := range oh {
			for xx := range ow {
				s := 0.0
				if bias != nil {
					s = float64(bias[oc])
				}
				for ci := range cg {
					ic := gi*cg + ci
					for ky := range kh {
						for kx := range kw {
							iy := y*a.Strides[0] - a.Pads[0] + ky*a.Dilations[0]
							ix := xx*a.Strides[1] - a.Pads[1] + kx*a.Dilations[1]
							if iy < 0 || iy >= h || ix < 0 || ix >= w {
								continue
							}
							s += float64(x[(ic*h+iy)*w+ix]) * float64(wt.Data[((oc*cg+ci)*kh+ky)*kw+kx])
						}
					}
				}
				out[(oc*oh+y)*ow+xx] = s
			}
		}
	}
	return out
}

func TestConvAgainstNaive(t *testing.T) {
	cases := []struct {
		name       string
		c, h, w, o int
		kh, kw     int
		a          Attrs
	}{
		{"plain", 3, 9, 9, 5, 3, 3, Attrs{}},
		{"asym pads stride", 2, 10, 7, 4, 3, 2, Attrs{Pads: []int{0, 1, 2, 0}, Strides: []int{2, 3}}},
		{"dilation pads", 3, 11, 11, 6, 3, 3, Attrs{Pads: []int{2, 2, 2, 2}, Dilations: []int{2, 3}}},
		{"groups 3", 6, 8, 8, 9, 3, 3, Attrs{Group: 3, Pads: []int{1, 1, 1, 1}}},
		{"depthwise", 4, 6, 6, 4, 3, 3, Attrs{Group: 4, Pads: []int{1, 0, 1, 2}, Strides: []int{2, 1}}},
		{"1x1 wide", 32, 5, 5, 17, 1, 1, Attrs{}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(i), 7))
			g := max(tc.a.Group, 1)
			wt := randTensor(rng, 1, tc.o, tc.c/g, tc.kh, tc.kw)
			b := randTensor(rng, 1, tc.o)
			a := tc.a
			if a.Strides == nil {
				a.Strides = []int{1, 1}
			}
			if a.Pads == nil {
				a.Pads = []int{0, 0, 0, 0}
			}
			if a.Dilations == nil {
				a.Dilations = []int{1, 1}
			}
			graph := &Graph{
				Inputs:  []Value{{Name: "x", Shape: []int{tc.c, tc.h, tc.w}}},
				Outputs: []string{"y"},
				Params:  map[string]*Tensor{"w": wt, "b": b},
				Nodes:   []*Node{{Name: "conv", Op: OpConv, Inputs: []string{"x", "w", "b"}, Outputs: []string{"y"}, Attrs: tc.a}},
			}
			e, err := NewExecutor(graph, ExecOptions{Workers: 2})
			if err != nil {
				t.Fatal(err)
			}
			const batch = 3
			x := randTensor(rng, 1, batch, tc.c, tc.h, tc.w)
			out, err := e.Run(map[string]*Tensor{"x": x})
			if err != nil {
				t.Fatal(err)
			}
			y := out["y"]
			oh, ow := y.Shape[2], y.Shape[3]
			per := tc.c * tc.h * tc.w
			for s := range batch {
				want := naiveConv(x.Data[s*per:(s+1)*per], tc.c, tc.h, tc.w, wt, b.Data, a, oh, ow)
				got := y.Data[s*len(want) : (s+1)*len(want)]
				for j := range want {
					if math.Abs(float64(got[j])-want[j]) > 1e-5*max(1, math.Abs(want[j])) {
						t.Fatalf("sample %d element %d: got %v, want %v", s, j, got[j], want[j])
					}
				}
			}
		})
	}
}

// TestWorkersBitwise checks that the result does not depend on the number of
// workers nor on how the batch is split: every sample must come out bitwise
// identical to running it alone.
func TestWorkersBitwise(t *testing.T) {
	for _, g := range []*Graph{lenetGraph(1), mlpGraph(1)} {
		t.Run(g.Name, func(t *testing.T) {
			x := images(13, 5)
			var ref []float32
			for _, w := range []int{1, 2, 3, 8} {
				e, err := NewExecutor(g, ExecOptions{Workers: w})
				if err != nil {
					t.Fatal(err)
				}
				out, err := e.Run(map[string]*Tensor{"input": x})
				if err != nil {
					t.Fatal(err)
				}
				got := out["logits"].Data
				if ref == nil {
					ref = slices.Clone(got)
					continue
				}
				if !slices.Equal(got, ref) {
					t.Fatalf("workers=%d differs from workers=1", w)
				}
			}
			e, err := NewExecutor(g, ExecOptions{Workers: 1})
			if err != nil {
				t.Fatal(err)
			}
			for s := range 13 {
				one := tensorOf(x.Data[s*784:(s+1)*784], 1, 1, 28, 28)
				out, err := e.Run(map[string]*Tensor{"input": one})
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(out["logits"].Data, ref[s*10:(s+1)*10]) {
					t.Fatalf("sample %d alone differs from the batch of 13", s)
				}
			}
		})
	}
}

// TestKeepAllAndRecycling checks that recycled buffers give the same outputs
// as KeepAll, and that KeepAll exposes every value with its batch shape.
func TestKeepAllAndRecycling(t *testing.T) {
	g := lenetGraph(3)
	x := images(4, 9)
	lean, err := NewExecutor(g, ExecOptions{Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	all, err := NewExecutor(g, ExecOptions{Workers: 2, KeepAll: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(lean.bufs) >= len(all.bufs) {
		t.Errorf("recycling uses %d buffers, KeepAll %d: expected fewer", len(lean.bufs), len(all.bufs))
	}
	a, err := lean.Run(map[string]*Tensor{"input": x})
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != 1 {
		t.Errorf("lean run returned %d values, want only the output", len(a))
	}
	b, err := all.Run(map[string]*Tensor{"input": x})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(a["logits"].Data, b["logits"].Data) {
		t.Fatal("recycled buffers change the output")
	}
	if err := InferShapes(g); err != nil {
		t.Fatal(err)
	}
	for name, sh := range g.Shapes {
		v, ok := b[name]
		if !ok {
			t.Fatalf("KeepAll result lacks %q", name)
		}
		if !slices.Equal(v.Shape, append([]int{4}, sh...)) || len(v.Data) != 4*Numel(sh) {
			t.Fatalf("%s: shape %v with %d values, want [4 %v]", name, v.Shape, len(v.Data), sh)
		}
	}
	// The ReLU output must equal max(conv output, 0) element by element.
	for i, v := range b["c1"].Data {
		if b["r1"].Data[i] != max(v, 0) {
			t.Fatalf("r1[%d] = %v, c1 = %v", i, b["r1"].Data[i], v)
		}
	}
	// A larger batch after a smaller one regrows the buffers; a smaller one reuses them.
	for _, n := range []int{7, 2} {
		y := images(n, 11)
		r1, err := lean.Run(map[string]*Tensor{"input": y})
		if err != nil {
			t.Fatal(err)
		}
		got := slices.Clone(r1["logits"].Data)
		r2, err := all.Run(map[string]*Tensor{"input": y})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, r2["logits"].Data) || len(got) != n*10 {
			t.Fatalf("batch %d: lean and KeepAll disagree", n)
		}
	}
}

func TestRunErrors(t *testing.T) {
	g := lenetGraph(1)
	e, err := NewExecutor(g, ExecOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		in   map[string]*Tensor
		want string
	}{
		{"missing input", map[string]*Tensor{}, `input "input" not given`},
		{"wrong shape", map[string]*Tensor{"input": NewTensor(2, 784)}, "has shape [2 784], want [N [1 28 28]]"},
		{"short data", map[string]*Tensor{"input": {Shape: []int{2, 1, 28, 28}, Data: make([]float32, 784)}}, "needs 1568 values, has 784"},
		{"empty batch", map[string]*Tensor{"input": NewTensor(0, 1, 28, 28)}, "empty batch"},
		{"extra input", map[string]*Tensor{"input": NewTensor(1, 1, 28, 28), "label": NewTensor(1)}, `"label" is not a graph input`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.Run(tc.in)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want error containing %q", err, tc.want)
			}
		})
	}
}

func TestNewExecutorErrors(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(g *Graph)
		want   string
	}{
		{"dangling input", func(g *Graph) { g.Nodes[3].Inputs[0] = "nope" }, `node "conv2" (Conv): input "nope" is not produced`},
		{"unknown output", func(g *Graph) { g.Outputs = []string{"zzz"} }, `output "zzz"`},
		{"weight not const", func(g *Graph) { g.Nodes[0].Inputs[1] = "input" }, `node "conv1" (Conv)`},
		{"bad dense", func(g *Graph) { g.Params["w3"] = NewTensor(120, 401) }, `node "fc1" (Dense)`},
		{"short constant", func(g *Graph) { g.Params["b1"] = &Tensor{Shape: []int{6}, Data: make([]float32, 2)} }, `constant "b1" has 2 values`},
		{"unknown op", func(g *Graph) { g.Nodes[1].Op = "Gelu" }, `node "relu1" (Gelu): unknown op`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := lenetGraph(1)
			tc.mutate(g)
			_, err := NewExecutor(g, ExecOptions{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want error containing %q", err, tc.want)
			}
		})
	}
}

func TestRunAllocationFree(t *testing.T) {
	for _, keep := range []bool{false, true} {
		e, err := NewExecutor(lenetGraph(1), ExecOptions{Workers: 2, KeepAll: keep})
		if err != nil {
			t.Fatal(err)
		}
		in := map[string]*Tensor{"input": images(8, 1)}
		if _, err := e.Run(in); err != nil {
			t.Fatal(err)
		}
		allocs := testing.AllocsPerRun(20, func() {
			if _, err := e.Run(in); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("KeepAll=%v: %v allocations per Run, want 0", keep, allocs)
		}
	}
}
