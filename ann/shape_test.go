package ann

import (
	"math"
	"slices"
	"strings"
	"testing"
)

func TestNodeOutputShape(t *testing.T) {
	inf := float32(math.Inf(1))
	params := map[string]*Tensor{
		"w553":   NewTensor(6, 1, 5, 5),
		"w33g":   NewTensor(8, 2, 3, 3), // 4 input channels in 2 groups
		"b6":     NewTensor(6),
		"b7":     NewTensor(7),
		"wd":     NewTensor(10, 12),
		"c1x1":   NewTensor(4, 1, 1),
		"row":    NewTensor(5),
		"scalar": NewTensor(),
		"ch4":    NewTensor(4),
		"ch3":    NewTensor(3),
	}
	cases := []struct {
		name   string
		op     Op
		in     [][]int // nil entries are params
		inputs []string
		attrs  Attrs
		want   []int
		err    string
	}{
		{"conv valid", OpConv, [][]int{{1, 28, 28}}, []string{"x", "w553", "b6"}, Attrs{}, []int{6, 24, 24}, ""},
		{"conv pad2", OpConv, [][]int{{1, 28, 28}}, []string{"x", "w553"}, Attrs{Pads: []int{2, 2, 2, 2}}, []int{6, 28, 28}, ""},
		{"conv asym pad stride2", OpConv, [][]int{{1, 28, 28}}, []string{"x", "w553"}, Attrs{Pads: []int{1, 1, 2, 2}, Strides: []int{2, 2}}, []int{6, 14, 14}, ""},
		{"conv dilation2", OpConv, [][]int{{1, 28, 28}}, []string{"x", "w553"}, Attrs{Dilations: []int{2, 2}}, []int{6, 20, 20}, ""},
		{"conv groups", OpConv, [][]int{{4, 9, 9}}, []string{"x", "w33g"}, Attrs{Group: 2, Strides: []int{2, 1}}, []int{8, 4, 7}, ""},
		{"conv wrong channels", OpConv, [][]int{{3, 9, 9}}, []string{"x", "w33g"}, Attrs{Group: 2}, nil, "group 2 does not divide"},
		{"conv bad bias", OpConv, [][]int{{1, 28, 28}}, []string{"x", "w553", "b7"}, Attrs{}, nil, "bias has 7 elements"},
		{"conv weight not const", OpConv, [][]int{{1, 28, 28}, {6, 1, 5, 5}}, []string{"x", "w"}, Attrs{}, nil, "must be a constant"},
		{"conv too small", OpConv, [][]int{{1, 3, 3}}, []string{"x", "w553"}, Attrs{}, nil, "non-positive"},
		{"dense", OpDense, [][]int{{12}}, []string{"x", "wd"}, Attrs{}, []int{10}, ""},
		{"dense rows", OpDense, [][]int{{3, 12}}, []string{"x", "wd"}, Attrs{}, []int{3, 10}, ""},
		{"dense mismatch", OpDense, [][]int{{13}}, []string{"x", "wd"}, Attrs{}, nil, "must match weight In 12"},
		{"add same", OpAdd, [][]int{{4, 2, 2}, {4, 2, 2}}, []string{"a", "b"}, Attrs{}, []int{4, 2, 2}, ""},
		{"add per-channel param", OpAdd, [][]int{{4, 2, 2}}, []string{"a", "c1x1"}, Attrs{}, []int{4, 2, 2}, ""},
		{"mul scalar param first", OpMul, [][]int{nil, {3, 5}}, []string{"scalar", "b"}, Attrs{}, []int{3, 5}, ""},
		{"sub row", OpSub, [][]int{{3, 5}}, []string{"a", "row"}, Attrs{}, []int{3, 5}, ""},
		{"div outer", OpDiv, [][]int{{3, 1}, {1, 5}}, []string{"a", "b"}, Attrs{}, []int{3, 5}, ""},
		{"add no broadcast", OpAdd, [][]int{{3, 4}, {3, 5}}, []string{"a", "b"}, Attrs{}, nil, "do not broadcast"},
		{"relu", OpRelu, [][]int{{7}}, []string{"x"}, Attrs{}, []int{7}, ""},
		{"clip", OpClip, [][]int{{7}}, []string{"x"}, Attrs{Min: 0, Max: inf}, []int{7}, ""},
		{"clip inverted", OpClip, [][]int{{7}}, []string{"x"}, Attrs{Min: 1, Max: 0}, nil, "exceeds max"},
		{"maxpool", OpMaxPool, [][]int{{6, 28, 28}}, []string{"x"}, Attrs{Kernel: []int{2, 2}, Strides: []int{2, 2}}, []int{6, 14, 14}, ""},
		{"maxpool floor", OpMaxPool, [][]int{{1, 5, 5}}, []string{"x"}, Attrs{Kernel: []int{2, 2}, Strides: []int{2, 2}}, []int{1, 2, 2}, ""},
		{"maxpool ceil", OpMaxPool, [][]int{{1, 5, 5}}, []string{"x"}, Attrs{Kernel: []int{2, 2}, Strides: []int{2, 2}, CeilMode: true}, []int{1, 3, 3}, ""},
		// ceil would start a window entirely in the end padding: dropped.
		{"maxpool ceil last window dropped", OpMaxPool, [][]int{{1, 4, 4}}, []string{"x"}, Attrs{Kernel: []int{2, 2}, Strides: []int{2, 2}, Pads: []int{1, 1, 1, 1}, CeilMode: true}, []int{1, 3, 3}, ""},
		{"avgpool pads", OpAveragePool, [][]int{{2, 7, 7}}, []string{"x"}, Attrs{Kernel: []int{3, 3}, Strides: []int{2, 2}, Pads: []int{1, 1, 1, 1}}, []int{2, 4, 4}, ""},
		{"pool pad >= kernel", OpAveragePool, [][]int{{2, 7, 7}}, []string{"x"}, Attrs{Kernel: []int{2, 2}, Pads: []int{2, 0, 0, 0}}, nil, "smaller than the kernel"},
		{"pool no kernel", OpMaxPool, [][]int{{2, 7, 7}}, []string{"x"}, Attrs{}, nil, "kernel"},
		{"gap", OpGlobalAveragePool, [][]int{{8, 3, 3}}, []string{"x"}, Attrs{}, []int{8, 1, 1}, ""},
		{"bn 3d", OpBatchNorm, [][]int{{4, 3, 3}}, []string{"x", "ch4", "ch4", "ch4", "ch4"}, Attrs{Epsilon: 1e-5}, []int{4, 3, 3}, ""},
		{"bn 1d", OpBatchNorm, [][]int{{4}}, []string{"x", "ch4", "ch4", "ch4", "ch4"}, Attrs{}, []int{4}, ""},
		{"bn wrong channels", OpBatchNorm, [][]int{{4, 2}}, []string{"x", "ch3", "ch4", "ch4", "ch4"}, Attrs{}, nil, "one per channel"},
		{"affine", OpAffine, [][]int{{3, 5}}, []string{"x", "ch3", "ch3"}, Attrs{}, []int{3, 5}, ""},
		{"flatten", OpFlatten, [][]int{{16, 4, 4}}, []string{"x"}, Attrs{}, []int{256}, ""},
		{"reshape", OpReshape, [][]int{{256}}, []string{"x"}, Attrs{Shape: []int{16, 16}}, []int{16, 16}, ""},
		{"reshape count", OpReshape, [][]int{{256}}, []string{"x"}, Attrs{Shape: []int{16, 15}}, nil, "cannot reshape"},
		{"reshape unresolved", OpReshape, [][]int{{256}}, []string{"x"}, Attrs{Shape: []int{-1, 16}}, nil, "fully resolved"},
		{"transpose", OpTranspose, [][]int{{28, 28, 3}}, []string{"x"}, Attrs{Perm: []int{2, 0, 1}}, []int{3, 28, 28}, ""},
		{"transpose default", OpTranspose, [][]int{{2, 3, 4}}, []string{"x"}, Attrs{}, []int{4, 3, 2}, ""},
		{"transpose bad perm", OpTranspose, [][]int{{2, 3, 4}}, []string{"x"}, Attrs{Perm: []int{0, 0, 1}}, nil, "not a permutation"},
		{"concat", OpConcat, [][]int{{2, 3, 3}, {5, 3, 3}}, []string{"a", "b"}, Attrs{Axis: 0}, []int{7, 3, 3}, ""},
		{"concat neg axis", OpConcat, [][]int{{2, 3, 3}, {2, 3, 1}}, []string{"a", "b"}, Attrs{Axis: -1}, []int{2, 3, 4}, ""},
		{"concat mismatch", OpConcat, [][]int{{2, 3, 3}, {2, 4, 1}}, []string{"a", "b"}, Attrs{Axis: 2}, nil, "differs"},
		{"pad", OpPad, [][]int{{1, 4, 4}}, []string{"x"}, Attrs{Pads: []int{0, 1, 2, 0, 3, 0}}, []int{1, 8, 6}, ""},
		{"pad wrong len", OpPad, [][]int{{1, 4, 4}}, []string{"x"}, Attrs{Pads: []int{1, 1}}, nil, "want 6 values"},
		{"softmax", OpSoftmax, [][]int{{10}}, []string{"x"}, Attrs{Axis: -1}, []int{10}, ""},
		{"softmax bad axis", OpSoftmax, [][]int{{10}}, []string{"x"}, Attrs{Axis: 1}, nil, "out of range"},
		{"argmax to per-sample scalar", OpArgMax, [][]int{{10}}, []string{"x"}, Attrs{Axis: 0}, []int{}, ""},
		{"argmax keep", OpArgMax, [][]int{{10}}, []string{"x"}, Attrs{Axis: 0, KeepDims: true}, []int{1}, ""},
		{"argmax 2d", OpArgMax, [][]int{{3, 10}}, []string{"x"}, Attrs{Axis: 1}, []int{3}, ""},
		{"unknown op", Op("Foo"), [][]int{{3}}, []string{"x"}, Attrs{}, nil, "unknown op"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := &Graph{Params: params}
			in := make([][]int, len(tc.inputs))
			copy(in, tc.in)
			got, err := NodeOutputShape(g, &Node{Name: tc.name, Op: tc.op, Inputs: tc.inputs, Attrs: tc.attrs}, in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %v, %v; want error containing %q", got, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestInferShapesNamesNode(t *testing.T) {
	g := lenetGraph(1)
	if err := InferShapes(g); err != nil {
		t.Fatal(err)
	}
	want := map[string][]int{"c1": {6, 28, 28}, "p1": {6, 14, 14}, "c2": {16, 10, 10}, "p2": {16, 5, 5}, "f": {400}, "logits": {10}}
	for k, v := range want {
		if !slices.Equal(g.Shapes[k], v) {
			t.Errorf("shape of %s: got %v, want %v", k, g.Shapes[k], v)
		}
	}
	g.Nodes[3].Attrs.Pads = []int{-1, 0, 0, 0}
	err := InferShapes(g)
	if err == nil || !strings.Contains(err.Error(), `node "conv2"`) {
		t.Fatalf("want an error naming conv2, got %v", err)
	}
}

func TestMACs(t *testing.T) {
	g := lenetGraph(1)
	per, total := MACs(g)
	want := map[string]int64{
		"conv1": 6 * 28 * 28 * 25,
		"conv2": 16 * 10 * 10 * 6 * 25,
		"fc1":   400 * 120,
		"fc2":   120 * 84,
		"fc3":   84 * 10,
	}
	var sum int64
	for k, v := range want {
		if per[k] != v {
			t.Errorf("MACs[%s] = %d, want %d", k, per[k], v)
		}
		sum += v
	}
	if total != sum || len(per) != len(want) {
		t.Errorf("total %d over %d nodes, want %d over %d", total, len(per), sum, len(want))
	}
}
