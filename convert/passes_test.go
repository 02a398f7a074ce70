package convert

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/snnconvert/snnconvert/ann"
	"github.com/snnconvert/snnconvert/snnrt"
)

type passCase struct {
	name  string
	build func(t *testing.T) *ann.Graph
	// pass must log at least one change.
	pass    string
	wantOps []ann.Op
	// compare is the original value the canonical output must equal ("" =
	// the original output); heads are stripped, so their input is compared.
	compare string
	// inputPerm: the canonical input is the original one permuted by it.
	inputPerm []int
	lo, hi    float32
	opt       Options
}

var inf = float32(math.Inf(1))

func passCases() []passCase {
	return []passCase{
		{name: "remove identity, dropout, cast", pass: "remove-identity",
			build: func(t *testing.T) *ann.Graph {
				b := newBuilder(1, "x", 6)
				v := b.op("cast", ann.OpCast, ann.Attrs{}, "x")
				v = b.dense("fc1", v, 6, 5)
				v = b.op("id", ann.OpIdentity, ann.Attrs{}, v)
				v = b.op("drop", ann.OpDropout, ann.Attrs{}, v)
				v = b.op("relu", ann.OpRelu, ann.Attrs{}, v)
				v = b.dense("fc2", v, 5, 3)
				v = b.op("id2", ann.OpIdentity, ann.Attrs{}, v)
				return b.done(t, v)
			},
			wantOps: []ann.Op{ann.OpDense, ann.OpRelu, ann.OpDense}},
		{name: "conv bias add and dense add/sub/mul fold", pass: "fold-bias",
			build: func(t *testing.T) *ann.Graph {
				b := newBuilder(2, "x", 2, 6, 6)
				v := b.conv("conv", "x", 2, 3, 3)
				v = b.op("add", ann.OpAdd, ann.Attrs{}, v, b.param(-1, 1, 3, 1, 1))
				v = b.op("relu", ann.OpRelu, ann.Attrs{}, v)
				v = b.op("flat", ann.OpFlatten, ann.Attrs{}, v)
				v = b.dense("fc", v, 48, 4)
				v = b.op("sub", ann.OpSub, ann.Attrs{}, v, b.param(-1, 1, 4))
				v = b.op("mul", ann.OpMul, ann.Attrs{}, v, b.param(0.5, 2, 1))
				v = b.op("div", ann.OpDiv, ann.Attrs{}, v, b.param(0.5, 2, 4))
				return b.done(t, v)
			},
			wantOps: []ann.Op{ann.OpConv, ann.OpRelu, ann.OpFlatten, ann.OpDense}},
		{name: "batchnorm after conv folds backward", pass: "fold-batchnorm",
			build: func(t *testing.T) *ann.Graph {
				b := newBuilder(3, "x", 1, 6, 6)
				v := b.conv("conv", "x", 1, 4, 3, 1, 1, 1, 1)
				v = b.op("bn", ann.OpBatchNorm, ann.Attrs{Epsilon: 1e-5}, v,
					b.param(0.5, 1.5, 4), b.param(-0.5, 0.5, 4), b.param(-0.2, 0.2, 4), b.param(0.5, 2, 4))
				v = b.op("relu", ann.OpRelu, ann.Attrs{}, v)
				v = b.op("flat", ann.OpFlatten, ann.Attrs{}, v)
				return b.done(t, b.dense("fc", v, 144, 3))
			},
			wantOps: []ann.Op{ann.OpConv, ann.OpRelu, ann.OpFlatten, ann.OpDense}},
		{name: "batchnorm1d after relu folds into the next dense (ccol pattern)", pass: "fold-batchnorm",
			build: func(t *testing.T) *ann.Graph {
				b := newBuilder(4, "x", 5)
				v := b.dense("fc1", "x", 5, 8)
				v = b.op("relu", ann.OpRelu, ann.Attrs{}, v)
				v = b.op("unsq", ann.OpReshape, ann.Attrs{Shape: []int{8, 1}}, v)
				v = b.op("bn", ann.OpBatchNorm, ann.Attrs{Epsilon: 1e-5}, v,
					b.param(0.5, 1.5, 8), b.param(-0.5, 0.5, 8), b.param(-0.2, 0.2, 8), b.param(0.5, 2, 8))
				v = b.op("sq", ann.OpReshape, ann.Attrs{Shape: []int{8}}, v)
				return b.done(t, b.dense("fc2", v, 8, 3))
			},
			wantOps: []ann.Op{ann.OpDense, ann.OpRelu, ann.OpDense}},
		{name: "batchnorm before max pool stays an affine", pass: "fold-batchnorm",
			build: func(t *testing.T) *ann.Graph {
				b := newBuilder(5, "x", 1, 6, 6)
				v := b.conv("conv", "x", 1, 2, 3)
				v = b.op("relu", ann.OpRelu, ann.Attrs{}, v)
				v = b.op("bn", ann.OpBatchNorm, ann.Attrs{Epsilon: 1e-5}, v,
					b.param(-1.5, 1.5, 2), b.param(-0.5, 0.5, 2), b.param(-0.2, 0.2, 2), b.param(0.5, 2, 2))
				v = b.op("pool", ann.OpMaxPool, ann.Attrs{Kernel: []int{2, 2}, Strides: []int{2, 2}}, v)
				v = b.op("flat", ann.OpFlatten, ann.Attrs{}, v)
				return b.done(t, b.dense("fc", v, 8, 3))
			},
			wantOps: []ann.Op{ann.OpConv, ann.OpRelu, ann.OpAffine, ann.OpMaxPool, ann.OpFlatten, ann.OpDense}},
		{name: "input sub/div folds into an unpadded conv", pass: "fold-input-norm",
			build: func(t *testing.T) *ann.Graph {
				b := newBuilder(6, "x", 1, 6, 6)
				v := b.op("sub", ann.OpSub, ann.Attrs{}, "x", b.constant([]float32{0.1307}, 1))
				v = b.op("div", ann.OpDiv, ann.Attrs{}, v, b.constant([]float32{0.3081}))
				v = b.conv("conv", v, 1, 2, 3)
				return b.done(t, b.op("relu", ann.OpRelu, ann.Attrs{}, v))
			},
			wantOps: []ann.Op{ann.OpConv, ann.OpRelu}, lo: 0, hi: 1},
		{name: "input normalisation before a padded conv stays an input affine", pass: "fold-input-norm",
			build: func(t *testing.T) *ann.Graph {
				b := newBuilder(7, "x", 3, 5, 5)
				v := b.op("sub", ann.OpSub, ann.Attrs{}, "x", b.constant([]float32{0.4, 0.5, 0.6}, 3, 1, 1))
				v = b.op("div", ann.OpDiv, ann.Attrs{}, v, b.constant([]float32{0.2, 0.25, 0.3}, 3, 1, 1))
				v = b.conv("conv", v, 3, 2, 3, 1, 1, 1, 1)
				return b.done(t, b.op("relu", ann.OpRelu, ann.Attrs{}, v))
			},
			wantOps: []ann.Op{ann.OpAffine, ann.OpConv, ann.OpRelu}, lo: 0, hi: 1},
		{name: "input scaling folds through flatten into dense", pass: "fold-input-norm",
			build: func(t *testing.T) *ann.Graph {
				b := newBuilder(8, "x", 1, 4, 4)
				v := b.op("div", ann.OpDiv, ann.Attrs{}, "x", b.constant([]float32{255}))
				v = b.op("sub", ann.OpSub, ann.Attrs{}, v, b.constant([]float32{0.5}))
				v = b.op("flat", ann.OpFlatten, ann.Attrs{}, v)
				return b.done(t, b.dense("fc", v, 16, 3))
			},
			wantOps: []ann.Op{ann.OpFlatten, ann.OpDense}, lo: 0, hi: 255},
		{name: "relu then min/max clamp, clip(0,6), leaky relu 0", pass: "clipped-relu",
			build: func(t *testing.T) *ann.Graph {
				b := newBuilder(9, "x", 6)
				v := b.dense("fc1", "x", 6, 6)
				v = b.op("relu", ann.OpRelu, ann.Attrs{}, v)
				v = b.op("min", ann.OpClip, ann.Attrs{Min: -inf, Max: 1}, v)
				v = b.op("max", ann.OpClip, ann.Attrs{Min: -1, Max: inf}, v)
				v = b.dense("fc2", v, 6, 6)
				v = b.op("relu6", ann.OpClip, ann.Attrs{Min: 0, Max: 6}, v)
				v = b.dense("fc3", v, 6, 6)
				v = b.op("leaky", ann.OpLeakyRelu, ann.Attrs{Alpha: 0}, v)
				v = b.op("relu_again", ann.OpRelu, ann.Attrs{}, v)
				return b.done(t, b.dense("fc4", v, 6, 2))
			},
			wantOps: []ann.Op{ann.OpDense, ann.OpClippedRelu, ann.OpDense, ann.OpClippedRelu, ann.OpDense, ann.OpRelu, ann.OpDense},
			lo:      -3, hi: 3},
		{name: "NHWC transpose before flatten permutes dense columns", pass: "nhwc-flatten",
			build: func(t *testing.T) *ann.Graph {
				b := newBuilder(10, "x", 2, 5, 5)
				v := b.conv("conv", "x", 2, 3, 2)
				v = b.op("relu", ann.OpRelu, ann.Attrs{}, v)
				v = b.op("nhwc", ann.OpTranspose, ann.Attrs{Perm: []int{1, 2, 0}}, v)
				v = b.op("reshape", ann.OpReshape, ann.Attrs{Shape: []int{48}}, v)
				return b.done(t, b.dense("fc", v, 48, 4))
			},
			wantOps: []ann.Op{ann.OpConv, ann.OpRelu, ann.OpReshape, ann.OpDense}},
		{name: "max pool before relu is reordered to act on spikes", pass: "reorder-pool-relu",
			build: func(t *testing.T) *ann.Graph {
				b := newBuilder(11, "x", 1, 6, 6)
				v := b.conv("conv", "x", 1, 2, 1)
				v = b.op("relu0", ann.OpRelu, ann.Attrs{}, v)
				v = b.conv("conv2", v, 2, 2, 3)
				v = b.op("pool", ann.OpMaxPool, ann.Attrs{Kernel: []int{2, 2}, Strides: []int{2, 2}}, v)
				v = b.op("relu", ann.OpRelu, ann.Attrs{}, v)
				v = b.op("flat", ann.OpFlatten, ann.Attrs{}, v)
				return b.done(t, b.dense("fc", v, 8, 3))
			},
			wantOps: []ann.Op{ann.OpConv, ann.OpRelu, ann.OpConv, ann.OpRelu, ann.OpMaxPool, ann.OpFlatten, ann.OpDense}},
		{name: "relu before max pool on the analog input's current is reordered to pool it", pass: "reorder-pool-relu",
			build: func(t *testing.T) *ann.Graph {
				b := newBuilder(11, "x", 1, 6, 6)
				v := b.conv("conv", "x", 1, 2, 3)
				v = b.op("relu6", ann.OpClip, ann.Attrs{Min: 0, Max: 6}, v)
				v = b.op("pool", ann.OpMaxPool, ann.Attrs{Kernel: []int{2, 2}, Strides: []int{2, 2}}, v)
				v = b.op("flat", ann.OpFlatten, ann.Attrs{}, v)
				return b.done(t, b.dense("fc", v, 8, 3))
			},
			wantOps: []ann.Op{ann.OpConv, ann.OpMaxPool, ann.OpClippedRelu, ann.OpFlatten, ann.OpDense}},
		{name: "max pool on the input's current goes after the relu under rate encoding", pass: "reorder-pool-relu",
			opt: Options{Encoding: snnrt.EncodingRate},
			build: func(t *testing.T) *ann.Graph {
				b := newBuilder(11, "x", 1, 6, 6)
				v := b.conv("conv", "x", 1, 2, 3)
				v = b.op("pool", ann.OpMaxPool, ann.Attrs{Kernel: []int{2, 2}, Strides: []int{2, 2}}, v)
				v = b.op("relu", ann.OpRelu, ann.Attrs{}, v)
				v = b.op("flat", ann.OpFlatten, ann.Attrs{}, v)
				return b.done(t, b.dense("fc", v, 8, 3))
			},
			wantOps: []ann.Op{ann.OpConv, ann.OpRelu, ann.OpMaxPool, ann.OpFlatten, ann.OpDense}},
		{name: "zero pad folds into conv and average pool; all-zero pad disappears", pass: "fold-pad",
			build: func(t *testing.T) *ann.Graph {
				b := newBuilder(12, "x", 1, 6, 6)
				v := b.op("pad0", ann.OpPad, ann.Attrs{Pads: []int{0, 0, 0, 0, 0, 0}}, "x")
				v = b.conv("conv", v, 1, 2, 3)
				v = b.op("relu", ann.OpRelu, ann.Attrs{}, v)
				v = b.op("pad1", ann.OpPad, ann.Attrs{Pads: []int{0, 1, 1, 0, 1, 1}}, v)
				v = b.conv("conv2", v, 2, 2, 3)
				v = b.op("relu2", ann.OpRelu, ann.Attrs{}, v)
				v = b.op("pad2", ann.OpPad, ann.Attrs{Pads: []int{0, 1, 1, 0, 1, 1}}, v)
				v = b.op("avg", ann.OpAveragePool, ann.Attrs{Kernel: []int{2, 2}, Strides: []int{2, 2}}, v)
				v = b.op("flat", ann.OpFlatten, ann.Attrs{}, v)
				return b.done(t, b.dense("fc", v, 18, 3))
			},
			wantOps: []ann.Op{ann.OpConv, ann.OpRelu, ann.OpConv, ann.OpRelu, ann.OpAveragePool, ann.OpFlatten, ann.OpDense}},
		{name: "global average pool and ceil-mode max pool", pass: "avgpool-sum",
			build: func(t *testing.T) *ann.Graph {
				b := newBuilder(13, "x", 1, 7, 7)
				v := b.conv("conv", "x", 1, 3, 2)
				v = b.op("relu", ann.OpRelu, ann.Attrs{}, v)
				v = b.op("pool", ann.OpMaxPool, ann.Attrs{Kernel: []int{2, 2}, Strides: []int{2, 2}, CeilMode: true}, v)
				v = b.conv("conv2", v, 3, 4, 1)
				v = b.op("gap", ann.OpGlobalAveragePool, ann.Attrs{}, v)
				return b.done(t, b.op("flat", ann.OpFlatten, ann.Attrs{}, v))
			},
			wantOps: []ann.Op{ann.OpConv, ann.OpMaxPool, ann.OpRelu, ann.OpConv, ann.OpAveragePool, ann.OpFlatten}},
		{name: "softmax+log head is stripped", pass: "strip-head", compare: "fc_out",
			build: func(t *testing.T) *ann.Graph {
				b := newBuilder(14, "x", 4)
				v := b.dense("fc", "x", 4, 3)
				v = b.op("sm", ann.OpSoftmax, ann.Attrs{Axis: 0}, v)
				return b.done(t, b.op("log", ann.OpLog, ann.Attrs{}, v))
			},
			wantOps: []ann.Op{ann.OpDense}},
		{name: "argmax head and logit clamps are stripped", pass: "strip-head", compare: "fc2_out",
			build: func(t *testing.T) *ann.Graph {
				b := newBuilder(15, "x", 4)
				v := b.dense("fc", "x", 4, 5)
				v = b.op("relu", ann.OpRelu, ann.Attrs{}, v)
				v = b.dense("fc2", v, 5, 3)
				v = b.op("min", ann.OpClip, ann.Attrs{Min: -inf, Max: 131072}, v)
				v = b.op("max", ann.OpClip, ann.Attrs{Min: -131072, Max: inf}, v)
				return b.done(t, b.op("argmax", ann.OpArgMax, ann.Attrs{Axis: 0}, v))
			},
			wantOps: []ann.Op{ann.OpDense, ann.OpRelu, ann.OpDense}},
		{name: "single-channel NHWC input transpose becomes a reshape", pass: "input-transpose",
			build: func(t *testing.T) *ann.Graph {
				b := newBuilder(16, "x", 5, 5, 1)
				v := b.op("tr", ann.OpTranspose, ann.Attrs{Perm: []int{2, 0, 1}}, "x")
				v = b.conv("conv", v, 1, 2, 3)
				return b.done(t, b.op("relu", ann.OpRelu, ann.Attrs{}, v))
			},
			wantOps: []ann.Op{ann.OpReshape, ann.OpConv, ann.OpRelu}},
		{name: "three-channel NHWC input becomes the input layout", pass: "input-transpose", inputPerm: []int{2, 0, 1},
			build: func(t *testing.T) *ann.Graph {
				b := newBuilder(17, "x", 5, 5, 3)
				v := b.op("tr", ann.OpTranspose, ann.Attrs{Perm: []int{2, 0, 1}}, "x")
				v = b.conv("conv", v, 3, 2, 3)
				return b.done(t, b.op("relu", ann.OpRelu, ann.Attrs{}, v))
			},
			wantOps: []ann.Op{ann.OpConv, ann.OpRelu}},
		{name: "select the classifier output of a two-output graph", pass: "select-io", compare: "fc2_out",
			opt: Options{Output: "fc2_out"},
			build: func(t *testing.T) *ann.Graph {
				b := newBuilder(18, "x", 4)
				v := b.dense("fc", "x", 4, 5)
				r := b.op("relu", ann.OpRelu, ann.Attrs{}, v)
				side := b.dense("side", r, 5, 2)
				return b.done(t, b.dense("fc2", r, 5, 3), side)
			},
			wantOps: []ann.Op{ann.OpDense, ann.OpRelu, ann.OpDense}},
		{name: "reshape chains collapse", pass: "collapse-layout",
			build: func(t *testing.T) *ann.Graph {
				b := newBuilder(19, "x", 2, 3, 3)
				v := b.op("r1", ann.OpReshape, ann.Attrs{Shape: []int{2, 9}}, "x")
				v = b.op("r2", ann.OpReshape, ann.Attrs{Shape: []int{18, 1}}, v)
				v = b.op("flat", ann.OpFlatten, ann.Attrs{}, v)
				v = b.op("r3", ann.OpReshape, ann.Attrs{Shape: []int{18}}, v)
				return b.done(t, b.dense("fc", v, 18, 3))
			},
			wantOps: []ann.Op{ann.OpReshape, ann.OpDense}},
	}
}

func TestPasses(t *testing.T) {
	for _, tc := range passCases() {
		t.Run(tc.name, func(t *testing.T) {
			g := tc.build(t)
			orig := g.Clone()
			c, logs, err := Canonicalize(g, tc.opt)
			if err != nil {
				t.Fatalf("Canonicalize: %v", err)
			}
			if got := opsOf(c); !slices.Equal(got, tc.wantOps) {
				t.Errorf("ops after passes = %v, want %v\n%s", got, tc.wantOps, FormatGraph(c))
			}
			changed := false
			for _, l := range logs {
				if l.Pass == tc.pass && len(l.Changes) > 0 {
					changed = true
				}
			}
			if !changed {
				t.Errorf("pass %s logged no change", tc.pass)
			}
			if !slices.Equal(opsOf(orig), opsOf(g)) {
				t.Errorf("Canonicalize modified its input graph")
			}
			lo, hi := tc.lo, tc.hi
			if lo == 0 && hi == 0 {
				lo, hi = -1, 1
			}
			x := randomInput(orig, 16, lo, hi, 7)
			want := run(t, orig, x)
			cmp := tc.compare
			if cmp == "" {
				cmp = orig.Outputs[0]
			}
			xc := x
			if tc.inputPerm != nil {
				xc = permuteBatch(x, tc.inputPerm)
			}
			got := run(t, c, xc)
			if e := relErr(got[c.Outputs[0]].Data, want[cmp].Data); e > 1e-5 {
				t.Errorf("canonical output differs from original %q: relative error %g", cmp, e)
			}
		})
	}
}

// permuteBatch transposes each sample of x by perm.
func permuteBatch(x *ann.Tensor, perm []int) *ann.Tensor {
	src := x.Shape[1:]
	dst := make([]int, len(perm))
	for k, a := range perm {
		dst[k] = src[a]
	}
	per := ann.Numel(src)
	out := ann.NewTensor(append([]int{x.Shape[0]}, dst...)...)
	ss, ds := strides(src), strides(dst)
	for n := 0; n < x.Shape[0]; n++ {
		for i := 0; i < per; i++ {
			j, r := 0, i
			idx := make([]int, len(src))
			for a := range src {
				idx[a] = r / ss[a]
				r %= ss[a]
			}
			for k, a := range perm {
				j += idx[a] * ds[k]
			}
			out.Data[n*per+j] = x.Data[n*per+i]
		}
	}
	return out
}

func TestPassListIsDeclarative(t *testing.T) {
	seen := map[string]bool{}
	for _, p := range Passes() {
		if p.Name == "" || p.Fn == nil || p.Doc == "" || strings.Contains(p.Doc, "\n") {
			t.Errorf("pass %+v: want a name, a function and a one-line doc", p.Name)
		}
		if seen[p.Name] {
			t.Errorf("pass %s listed twice", p.Name)
		}
		seen[p.Name] = true
	}
}

func TestDisableAndDump(t *testing.T) {
	b := newBuilder(20, "x", 4)
	v := b.dense("fc", "x", 4, 3)
	v = b.op("id", ann.OpIdentity, ann.Attrs{}, v)
	g := b.done(t, v)
	c, logs, err := Canonicalize(g, Options{Disable: []string{"remove-identity"}, DumpAfter: []string{"dead-code"}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(opsOf(c), ann.OpIdentity) {
		t.Errorf("remove-identity ran although disabled: %v", opsOf(c))
	}
	last := logs[len(logs)-1]
	if !strings.Contains(last.Dump, "Identity") || !strings.Contains(last.Dump, `graph "tiny"`) {
		t.Errorf("dump after dead-code = %q", last.Dump)
	}
	if _, _, err := Canonicalize(g, Options{Disable: []string{"no-such-pass"}}); err == nil || !strings.Contains(err.Error(), "no-such-pass") {
		t.Errorf("unknown pass: err = %v", err)
	}
}
