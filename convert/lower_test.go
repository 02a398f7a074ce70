package convert

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/snnconvert/snnconvert/ann"
	"github.com/snnconvert/snnconvert/normalize"
	"github.com/snnconvert/snnconvert/snnrt"
)

// tensorSource is a calibration Source over an in-memory batch.
type tensorSource struct{ x *ann.Tensor }

func (s tensorSource) Len() int           { return s.x.Shape[0] }
func (s tensorSource) SampleShape() []int { return s.x.Shape[1:] }
func (s tensorSource) Batch(dst []float32, from, n int) error {
	per := ann.Numel(s.x.Shape[1:])
	copy(dst, s.x.Data[from*per:(from+n)*per])
	return nil
}

// simulate runs a Dense/IF network for T steps on one analog sample, exactly
// as DESIGN §2 states, independent of package snnrt: it returns each IF
// node's spike counts and the output's integral V_out[T].
func simulate(t *testing.T, net *snnrt.Network, x []float32, T int) (map[string][]int, []float64) {
	t.Helper()
	vals := map[string][]float64{}
	v := map[string][]float64{}
	count := map[string][]int{}
	in := make([]float64, len(x))
	for i, f := range x {
		in[i] = float64(f)
	}
	var out []float64
	for step := 1; step <= T; step++ {
		vals[net.Input] = in
		for _, n := range net.Nodes {
			src := vals[n.Inputs[0]]
			switch n.Op {
			case snnrt.OpDense:
				o, k := n.W.Shape[0], n.W.Shape[1]
				y := make([]float64, o)
				for r := 0; r < o; r++ {
					acc := 0.0
					if n.B != nil {
						acc = float64(n.B.Data[r])
					}
					for c := 0; c < k; c++ {
						acc += float64(n.W.Data[r*k+c]) * src[c]
					}
					y[r] = acc
				}
				vals[n.Output] = y
			case snnrt.OpIF:
				if v[n.Name] == nil {
					v[n.Name] = make([]float64, len(src))
					count[n.Name] = make([]int, len(src))
					for i := range src {
						v[n.Name][i] = float64(n.VInit) * float64(pick(n.Threshold, i))
					}
				}
				s := make([]float64, len(src))
				for i, cur := range src {
					th := float64(pick(n.Threshold, i))
					v[n.Name][i] += cur
					if v[n.Name][i] >= th {
						s[i] = 1
						count[n.Name][i]++
						if n.Reset == snnrt.ResetZero {
							v[n.Name][i] = 0
						} else {
							v[n.Name][i] -= th
						}
					}
				}
				vals[n.Output] = s
			default:
				t.Fatalf("simulate: op %s not supported by the test simulator", n.Op)
			}
		}
		cur := vals[net.Output]
		if out == nil {
			out = make([]float64, len(cur))
		}
		for i, c := range cur {
			out[i] += c
		}
	}
	return count, out
}

// TestSingleLayerIdentity: with constant current, the spike count is
// clamp(floor(T·I/θ + 0.5), 0, T) (DESIGN §2) and rate·λ reproduces ReLU.
func TestSingleLayerIdentity(t *testing.T) {
	b := newBuilder(31, "x", 6)
	v := b.dense("fc1", "x", 6, 10)
	v = b.op("relu", ann.OpRelu, ann.Attrs{}, v)
	g := b.done(t, b.dense("fc2", v, 10, 3))
	calib := randomInput(g, 200, -1, 1, 5)
	net, rep, err := Convert(g, Options{Calib: tensorSource{calib}, Norm: normalize.Max})
	if err != nil {
		t.Fatal(err)
	}
	ifn := net.Nodes[slices.IndexFunc(net.Nodes, func(n *snnrt.Node) bool { return n.Op == snnrt.OpIF })]
	lam := rep.Layers[0].Scale[0]
	if ifn.Threshold[0] != lam || ifn.VInit != 0.5 || ifn.Reset != snnrt.ResetSubtract {
		t.Fatalf("IF θ %v v_init %v reset %s, want θ = λ = %g, 0.5, subtract", ifn.Threshold, ifn.VInit, ifn.Reset, lam)
	}
	x := randomInput(g, 20, -1, 1, 6)
	ref := run(t, g, x)
	const T = 200
	for s := 0; s < 20; s++ {
		sample := x.Data[s*6 : (s+1)*6]
		counts, _ := simulate(t, net, sample, T)
		z := ref["fc1_out"].Data[s*10 : (s+1)*10]
		a := ref["relu_out"].Data[s*10 : (s+1)*10]
		for i, c := range counts[ifn.Name] {
			want := int(math.Floor(T*float64(z[i])/float64(lam) + 0.5))
			want = min(max(want, 0), T)
			// float32 vs float64 current: allow one spike where T·I/θ+0.5 is within rounding of an integer.
			if abs(c-want) > 1 {
				t.Errorf("sample %d neuron %d: %d spikes, identity says %d", s, i, c, want)
			}
			if got := float64(c) / T * float64(lam); math.Abs(got-float64(a[i])) > float64(lam)/T+1e-6 {
				t.Errorf("sample %d neuron %d: rate·λ = %g, ReLU = %g", s, i, got, a[i])
			}
		}
	}
}

func abs(i int) int {
	if i < 0 {
		return -i
	}
	return i
}

// TestTwoLayerScaling: a second IF layer's rate·λ₂ tracks the ANN activation,
// with thresholds (θ = λ, weights × λ₁) and with weights (θ = 1) alike, and
// the output integral approximates the logits.
func TestTwoLayerScaling(t *testing.T) {
	b := newBuilder(32, "x", 8)
	v := b.dense("fc1", "x", 8, 12)
	v = b.op("relu1", ann.OpRelu, ann.Attrs{}, v)
	v = b.dense("fc2", v, 12, 9)
	v = b.op("relu2", ann.OpRelu, ann.Attrs{}, v)
	g := b.done(t, b.dense("fc3", v, 9, 4))
	calib := randomInput(g, 300, -1, 1, 8)
	x := randomInput(g, 10, -1, 1, 9)
	ref := run(t, g, x)
	const T = 2000
	var countsBy [2][]map[string][]int
	for mi, mode := range []ScaleInto{IntoThresholds, IntoWeights} {
		for _, reset := range []snnrt.ResetMode{snnrt.ResetSubtract} {
			net, rep, err := Convert(g, Options{Calib: tensorSource{calib}, Norm: normalize.Max, ScaleInto: mode, Reset: reset})
			if err != nil {
				t.Fatal(err)
			}
			lam1, lam2 := rep.Layers[0].Scale[0], rep.Layers[1].Scale[0]
			for _, n := range net.Nodes {
				if n.Op == snnrt.OpIF && mode == IntoWeights && n.Threshold[0] != 1 {
					t.Errorf("weights mode: IF %s θ = %v, want 1", n.Name, n.Threshold)
				}
			}
			for s := 0; s < 10; s++ {
				counts, vout := simulate(t, net, x.Data[s*8:(s+1)*8], T)
				countsBy[mi] = append(countsBy[mi], counts)
				a2 := ref["relu2_out"].Data[s*9 : (s+1)*9]
				for i, c := range counts[rep.Layers[1].SNNNode] {
					got := float64(c) / T * float64(lam2)
					// Layer 1's rates are off by at most 1/T each (fan-in 12), plus layer 2's own 1/T.
					tol := float64(lam2)/T + 12*0.3*float64(lam1)/T*2
					if math.Abs(got-float64(a2[i])) > tol {
						t.Errorf("%s sample %d neuron %d: rate·λ₂ = %g, ANN %g (tol %g)", mode, s, i, got, a2[i], tol)
					}
				}
				logits := ref["fc3_out"].Data[s*4 : (s+1)*4]
				for i := range logits {
					if d := math.Abs(vout[i]/T - float64(logits[i])); d > 0.05 {
						t.Errorf("%s sample %d: V_out/T = %g, logit %g", mode, s, vout[i]/T, logits[i])
					}
				}
			}
		}
	}
	// Both modes are the same network up to the units of V: spike counts agree
	// except where float rounding lands exactly on a threshold.
	diff := 0
	for s := range countsBy[0] {
		for name, c := range countsBy[0][s] {
			for i := range c {
				diff += abs(c[i] - countsBy[1][s][name][i])
			}
		}
	}
	if diff > 3 {
		t.Errorf("thresholds and weights modes differ by %d spikes in total", diff)
	}
}

func TestRefusals(t *testing.T) {
	for _, tc := range []struct {
		name  string
		build func(t *testing.T) *ann.Graph
		want  []string // substrings of the refusals, in order
	}{
		{"sigmoid hidden layer", func(t *testing.T) *ann.Graph {
			b := newBuilder(40, "x", 4)
			v := b.dense("fc1", "x", 4, 5)
			v = b.op("sig", ann.OpSigmoid, ann.Attrs{}, v)
			return b.done(t, b.dense("fc2", v, 5, 2))
		}, []string{`node "sig" (Sigmoid): non-ReLU hidden activation`}},
		{"tanh, selu and leaky relu all reported", func(t *testing.T) *ann.Graph {
			b := newBuilder(41, "x", 4)
			v := b.dense("fc1", "x", 4, 5)
			v = b.op("tanh", ann.OpTanh, ann.Attrs{}, v)
			v = b.dense("fc2", v, 5, 5)
			v = b.op("selu", ann.OpSelu, ann.Attrs{Alpha: 1.67, Gamma: 1.05}, v)
			v = b.dense("fc3", v, 5, 5)
			v = b.op("leaky", ann.OpLeakyRelu, ann.Attrs{Alpha: 0.01}, v)
			return b.done(t, b.dense("fc4", v, 5, 2))
		}, []string{`"tanh" (Tanh)`, `"selu" (Selu)`, `"leaky" (LeakyRelu): LeakyRelu with negative slope 0.01`}},
		{"two inputs", func(t *testing.T) *ann.Graph {
			b := newBuilder(42, "x", 4)
			b.g.Inputs = append(b.g.Inputs, ann.Value{Name: "y", Shape: []int{4}})
			v := b.op("add", ann.OpAdd, ann.Attrs{}, "x", "y")
			return b.done(t, b.dense("fc", v, 4, 2))
		}, []string{"the graph has 2 inputs"}},
		{"two outputs", func(t *testing.T) *ann.Graph {
			b := newBuilder(43, "x", 4)
			v := b.dense("fc", "x", 4, 3)
			return b.done(t, v, b.dense("fc2", "x", 4, 2))
		}, []string{"the graph has 2 outputs"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := tc.build(t)
			rs := Refusals(g)
			if len(rs) != len(tc.want) {
				t.Fatalf("refusals %v, want %d", rs, len(tc.want))
			}
			for i, r := range rs {
				if !strings.Contains(r.String(), tc.want[i]) || r.Hint == "" {
					t.Errorf("refusal %q, want it to contain %q and a hint", r, tc.want[i])
				}
			}
			_, _, err := Convert(g, Options{Calib: tensorSource{randomInput(g, 4, 0, 1, 1)}})
			if _, ok := err.(*RefusalError); !ok {
				t.Errorf("Convert: err = %v, want a *RefusalError", err)
			}
			pf := Preflight(g)
			refused := 0
			for _, e := range pf {
				if e.Status == Refused {
					refused++
				}
			}
			if refused != len(tc.want) {
				t.Errorf("preflight marks %d refused, want %d: %+v", refused, len(tc.want), pf)
			}
		})
	}
}

func TestPreflightClassifies(t *testing.T) {
	b := newBuilder(44, "x", 1, 6, 6)
	v := b.conv("conv", "x", 1, 2, 3)
	v = b.op("add", ann.OpAdd, ann.Attrs{}, v, b.param(-1, 1, 2, 1, 1))
	v = b.op("relu", ann.OpRelu, ann.Attrs{}, v)
	v = b.op("flat", ann.OpFlatten, ann.Attrs{}, v)
	v = b.dense("fc", v, 32, 3)
	g := b.done(t, b.op("sm", ann.OpSoftmax, ann.Attrs{}, v))
	want := map[string]Status{"conv": Rewritten, "add": Rewritten, "relu": Supported, "flat": Supported, "fc": Supported, "sm": Rewritten}
	for _, e := range Preflight(g) {
		if want[e.Node] != e.Status {
			t.Errorf("%s (%s): %s (%s), want %s", e.Node, e.Op, e.Status, e.Detail, want[e.Node])
		}
		if e.Status == Rewritten && e.Detail == "" {
			t.Errorf("%s rewritten without detail", e.Node)
		}
	}
}

// A ReLU→MaxPool on the analog input's current becomes MaxPool→IF: the pool
// takes the exact max of a constant current, and each pooled neuron then
// obeys the single-layer identity against the ANN's pooled activation. With
// rate input the current changes every step, so the pool stays on spikes.
func TestMaxPoolOnAnalogCurrent(t *testing.T) {
	b := newBuilder(41, "x", 1, 6, 6)
	v := b.conv("conv", "x", 1, 3, 3)
	v = b.op("relu", ann.OpRelu, ann.Attrs{}, v)
	v = b.op("pool", ann.OpMaxPool, ann.Attrs{Kernel: []int{2, 2}, Strides: []int{2, 2}}, v)
	v = b.op("flat", ann.OpFlatten, ann.Attrs{}, v)
	g := b.done(t, b.dense("fc", v, 12, 4))
	calib := randomInput(g, 200, -1, 1, 5)
	x := randomInput(g, 8, -1, 1, 6)
	pooled := run(t, g, x)["pool_out"]
	warned := func(rep *Report) bool {
		return slices.ContainsFunc(rep.Warnings, func(w string) bool { return strings.Contains(w, "max pooling on spikes") })
	}
	for _, c := range []struct {
		enc     snnrt.Encoding
		ops     []snnrt.Op
		neurons int
	}{
		{snnrt.EncodingAnalog, []snnrt.Op{snnrt.OpConv, snnrt.OpSpikeMaxPool, snnrt.OpIF, snnrt.OpFlatten, snnrt.OpDense}, 12},
		{snnrt.EncodingRate, []snnrt.Op{snnrt.OpConv, snnrt.OpIF, snnrt.OpSpikeMaxPool, snnrt.OpFlatten, snnrt.OpDense}, 48},
	} {
		net, rep, err := Convert(g, Options{Calib: tensorSource{calib}, Norm: normalize.Max, Encoding: c.enc})
		if err != nil {
			t.Fatal(err)
		}
		var ops []snnrt.Op
		for _, n := range net.Nodes {
			ops = append(ops, n.Op)
		}
		if !slices.Equal(ops, c.ops) || rep.Neurons != c.neurons || warned(rep) != (c.enc == snnrt.EncodingRate) {
			t.Fatalf("%s: ops %v, %d IF neurons, warnings %q", c.enc, ops, rep.Neurons, rep.Warnings)
		}
		if c.enc != snnrt.EncodingAnalog {
			continue
		}
		if net.Nodes[1].Inputs[0] != net.Nodes[0].Output {
			t.Fatalf("the pool reads %q, not the conv's current %q", net.Nodes[1].Inputs[0], net.Nodes[0].Output)
		}
		ifNode := net.Nodes[2]
		const T = 1000
		res, err := snnrt.Run(net, &snnrt.Samples{Shape: []int{1, 6, 6}, X: x.Data}, snnrt.RunOptions{T: T, Record: []string{ifNode.Name}})
		if err != nil {
			t.Fatal(err)
		}
		lam := float64(rep.Layers[0].Scale[0])
		for i, cnt := range res.NeuronSpikes[ifNode.Name] {
			got, want := float64(cnt)/T*lam, float64(pooled.Data[i])
			if math.Abs(got-want) > lam/T*1.001 {
				t.Errorf("neuron %d of sample %d: rate·λ = %g, ANN's pooled ReLU %g", i%12, i/12, got, want)
			}
		}
	}
}
