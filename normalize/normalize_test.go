package normalize

import (
	"math"
	"math/rand/v2"
	"runtime"
	"runtime/debug"
	"slices"
	"sort"
	"testing"

	"github.com/snnconvert/snnconvert/ann"
)

// synth is a Source that generates samples on the fly from a seed, so a
// large calibration set costs no memory of its own.
type synth struct {
	n     int
	shape []int
	seed  uint64
}

func (s *synth) Len() int           { return s.n }
func (s *synth) SampleShape() []int { return s.shape }
func (s *synth) Batch(dst []float32, from, n int) error {
	per := ann.Numel(s.shape)
	for i := 0; i < n; i++ {
		rng := rand.New(rand.NewPCG(s.seed, uint64(from+i)))
		for j := 0; j < per; j++ {
			dst[i*per+j] = float32(rng.NormFloat64())
		}
	}
	return nil
}

// mlp is x[in] → Dense → Relu → Dense → Relu → Dense, with seeded weights.
func mlp(in, h1, h2, out int, seed uint64) *ann.Graph {
	rng := rand.New(rand.NewPCG(seed, 9))
	g := &ann.Graph{Name: "mlp", Inputs: []ann.Value{{Name: "x", Shape: []int{in}}}, Params: map[string]*ann.Tensor{}}
	prev, pin := "x", in
	layer := func(name string, n int, relu bool) {
		w, b := ann.NewTensor(n, pin), ann.NewTensor(n)
		for i := range w.Data {
			w.Data[i] = float32(rng.NormFloat64() / math.Sqrt(float64(pin)))
		}
		for i := range b.Data {
			b.Data[i] = float32(rng.NormFloat64() * 0.1)
		}
		g.Params[name+".W"], g.Params[name+".b"] = w, b
		g.Nodes = append(g.Nodes, &ann.Node{Name: name, Op: ann.OpDense, Inputs: []string{prev, name + ".W", name + ".b"}, Outputs: []string{name}})
		prev, pin = name, n
		if relu {
			g.Nodes = append(g.Nodes, &ann.Node{Name: name + ".relu", Op: ann.OpRelu, Inputs: []string{prev}, Outputs: []string{name + ".a"}})
			prev = name + ".a"
		}
	}
	layer("fc1", h1, true)
	layer("fc2", h2, true)
	layer("fc3", out, false)
	g.Outputs = []string{prev}
	if err := ann.InferShapes(g); err != nil {
		panic(err)
	}
	return g
}

// exactActivations runs the whole source and returns the positive
// activations of value v (per layer), for checking against the histogram.
func exactActivations(t *testing.T, g *ann.Graph, src Source, v string) []float32 {
	t.Helper()
	e, err := ann.NewExecutor(g, ann.ExecOptions{KeepAll: true})
	if err != nil {
		t.Fatal(err)
	}
	per := ann.Numel(src.SampleShape())
	x := make([]float32, src.Len()*per)
	if err := src.Batch(x, 0, src.Len()); err != nil {
		t.Fatal(err)
	}
	out, err := e.Run(map[string]*ann.Tensor{"x": {Shape: append([]int{src.Len()}, src.SampleShape()...), Data: x}})
	if err != nil {
		t.Fatal(err)
	}
	var pos []float32
	for _, a := range out[v].Data {
		if a > 0 {
			pos = append(pos, a)
		}
	}
	slices.Sort(pos)
	return pos
}

func TestHistogramPercentile(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	for _, tc := range []struct {
		name string
		gen  func() float32
	}{
		{"exponential", func() float32 { return float32(rng.ExpFloat64()) }},
		{"uniform growing", func() float32 { return float32(rng.Float64() * 1000) }},
		{"tiny values", func() float32 { return float32(rng.Float64() * 1e-3) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHistogram(2048)
			var all []float64
			for range 100000 {
				v := tc.gen()
				h.add(v)
				all = append(all, float64(v))
			}
			sort.Float64s(all)
			mx := all[len(all)-1]
			for _, p := range []float64{50, 99, 99.9, 99.99, 100} {
				exact := all[max(0, int(math.Ceil(p/100*float64(len(all))))-1)]
				got := float64(h.percentile(p))
				if got < exact-1e-9 || got-exact > 2*mx/2048 {
					t.Errorf("p%g = %g, exact %g (allowed + %g)", p, got, exact, 2*mx/2048)
				}
			}
			if float64(h.max) != mx {
				t.Errorf("max %g, want %g", h.max, mx)
			}
		})
	}
}

func TestCalibrateMethods(t *testing.T) {
	g := mlp(20, 16, 12, 4, 3)
	src := &synth{n: 500, shape: []int{20}, seed: 4}
	targets := []Target{{Value: "fc1.a"}, {Value: "fc2.a"}}
	for _, tc := range []struct {
		method Method
		p      float64
	}{{Max, 0}, {Percentile, 99}, {Percentile, 99.99}, {Channel, 99.9}} {
		t.Run(string(tc.method), func(t *testing.T) {
			res, err := Calibrate(g, targets, src, Options{Method: tc.method, Percentile: tc.p, Batch: 37})
			if err != nil {
				t.Fatal(err)
			}
			for _, tg := range targets {
				pos := exactActivations(t, g, src, tg.Value)
				mx := pos[len(pos)-1]
				sc := res.Scales[tg.Value]
				switch tc.method {
				case Max:
					if len(sc) != 1 || sc[0] != mx {
						t.Errorf("%s: max scale %v, want %g", tg.Value, sc, mx)
					}
				case Percentile:
					exact := pos[int(math.Ceil(tc.p/100*float64(len(pos))))-1]
					if len(sc) != 1 || sc[0] < exact || sc[0]-exact > 2*mx/2048 {
						t.Errorf("%s: p%g scale %v, exact %g", tg.Value, tc.p, sc, exact)
					}
				case Channel:
					if len(sc) != g.Shapes[tg.Value][0] {
						t.Fatalf("%s: %d channel scales, want %d", tg.Value, len(sc), g.Shapes[tg.Value][0])
					}
					if slices.Max(sc) > mx || slices.Min(sc) <= 0 {
						t.Errorf("%s: channel scales %v outside (0, %g]", tg.Value, sc, mx)
					}
				}
			}
			if res.Samples != 500 || len(res.SHA256) != 64 {
				t.Errorf("provenance: %d samples, sha %q", res.Samples, res.SHA256)
			}
		})
	}
	// The hash depends on the data and nothing else.
	a, _ := Calibrate(g, targets, src, Options{Method: Max})
	b, _ := Calibrate(g, targets, src, Options{Method: Percentile, Batch: 5})
	c, _ := Calibrate(g, targets, &synth{n: 500, shape: []int{20}, seed: 5}, Options{Method: Max})
	if a.SHA256 != b.SHA256 || a.SHA256 == c.SHA256 {
		t.Errorf("hash: same data %s / %s, other data %s", a.SHA256, b.SHA256, c.SHA256)
	}
}

func TestCalibrateClipAndErrors(t *testing.T) {
	g := mlp(8, 6, 5, 3, 1)
	res, err := Calibrate(g, []Target{{Value: "fc1.a", Clip: 6}}, &synth{n: 10, shape: []int{8}, seed: 1}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Scales["fc1.a"], []float32{6}) {
		t.Errorf("clipped scale %v, want [6]", res.Scales["fc1.a"])
	}
	for _, tc := range []struct {
		name    string
		targets []Target
		src     Source
		opt     Options
	}{
		{"unknown value", []Target{{Value: "nope"}}, &synth{n: 4, shape: []int{8}}, Options{}},
		{"wrong sample shape", []Target{{Value: "fc1.a"}}, &synth{n: 4, shape: []int{9}}, Options{}},
		{"empty set", []Target{{Value: "fc1.a"}}, &synth{n: 0, shape: []int{8}}, Options{}},
		{"bad percentile", []Target{{Value: "fc1.a"}}, &synth{n: 4, shape: []int{8}}, Options{Percentile: 101}},
		{"bad method", []Target{{Value: "fc1.a"}}, &synth{n: 4, shape: []int{8}}, Options{Method: "median"}},
	} {
		if _, err := Calibrate(g, tc.targets, tc.src, tc.opt); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
}

func TestMergeGroupsAndUnify(t *testing.T) {
	// x → fc1 → relu a ─┬→ fc2 → relu b ─┐
	//                   └─────────────────┴→ Add → relu c → fc3
	g := mlp(6, 5, 5, 3, 2)
	g.Nodes = append(g.Nodes[:4], &ann.Node{Name: "res", Op: ann.OpAdd, Inputs: []string{"fc2.a", "fc1.a"}, Outputs: []string{"sum"}},
		&ann.Node{Name: "res.relu", Op: ann.OpRelu, Inputs: []string{"sum"}, Outputs: []string{"c"}})
	g.Nodes = append(g.Nodes, &ann.Node{Name: "fc3", Op: ann.OpDense, Inputs: []string{"c", "fc3.W", "fc3.b"}, Outputs: []string{"fc3"}})
	groups := MergeGroups(g, []string{"fc1.a", "fc2.a", "c"})
	if len(groups) != 1 || !slices.Equal(groups[0], []string{"fc1.a", "fc2.a"}) {
		t.Fatalf("groups %v", groups)
	}
	sc := map[string][]float32{"fc1.a": {2}, "fc2.a": {3}, "c": {1}}
	Unify(sc, groups, nil)
	if sc["fc1.a"][0] != 3 || sc["fc2.a"][0] != 3 || sc["c"][0] != 1 {
		t.Errorf("unified %v", sc)
	}
	sc = map[string][]float32{"fc1.a": {1, 4, 2, 2, 2}, "fc2.a": {3, 1, 2, 2, 5}}
	warn := Unify(sc, groups, map[string]float32{"fc1.a": 4})
	if !slices.Equal(sc["fc1.a"], []float32{3, 4, 2, 2, 5}) || !slices.Equal(sc["fc2.a"], sc["fc1.a"]) {
		t.Errorf("per-channel unify %v", sc)
	}
	if len(warn) != 1 {
		t.Errorf("clip warning: %v", warn)
	}
}

// TestResidualInputsGoLayerWide: under per-channel scales, a value feeding a
// residual Add (directly or through layout ops) gets one scale, the largest of
// its channels, and the values not feeding one keep theirs.
func TestResidualInputsGoLayerWide(t *testing.T) {
	g := mlp(6, 5, 5, 3, 2)
	g.Nodes = append(g.Nodes[:4], &ann.Node{Name: "fl", Op: ann.OpFlatten, Inputs: []string{"fc1.a"}, Outputs: []string{"fc1.flat"}},
		&ann.Node{Name: "res", Op: ann.OpAdd, Inputs: []string{"fc2", "fc1.flat"}, Outputs: []string{"sum"}},
		&ann.Node{Name: "res.relu", Op: ann.OpRelu, Inputs: []string{"sum"}, Outputs: []string{"c"}})
	got := ResidualInputs(g, []string{"fc1.a", "fc2.a", "c"})
	if !slices.Equal(got, []string{"fc1.a"}) {
		t.Fatalf("residual inputs %v, want [fc1.a]", got)
	}
	sc := map[string][]float32{"fc1.a": {1, 4, 2, 2, 2}, "fc2.a": {3, 1, 2, 2, 5}, "c": {7}}
	LayerWide(sc, got)
	if !slices.Equal(sc["fc1.a"], []float32{4}) || !slices.Equal(sc["fc2.a"], []float32{3, 1, 2, 2, 5}) || !slices.Equal(sc["c"], []float32{7}) {
		t.Errorf("scales after LayerWide: %v", sc)
	}
}

// TestCalibrationMemoryIsStreaming: peak heap while calibrating 10,000
// samples stays within a small constant of the peak for 1,000.
func TestCalibrationMemoryIsStreaming(t *testing.T) {
	if testing.Short() {
		t.Skip("memory measurement runs 11,000 samples")
	}
	g := mlp(784, 256, 128, 10, 7)
	targets := []Target{{Value: "fc1.a"}, {Value: "fc2.a"}}
	peak := func(n int, m Method) uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		base := ms.HeapAlloc
		var top uint64
		_, err := Calibrate(g, targets, &synth{n: n, shape: []int{784}, seed: 3}, Options{Method: m, Batch: 100, Workers: 2,
			Progress: func(done, total int) {
				runtime.ReadMemStats(&ms)
				if ms.HeapAlloc > base {
					top = max(top, ms.HeapAlloc-base)
				}
			}})
		if err != nil {
			t.Fatal(err)
		}
		return top
	}
	old := debug.SetGCPercent(20) // keep garbage from masking growth
	defer debug.SetGCPercent(old)
	for _, m := range []Method{Percentile, Channel} {
		small, large := peak(1000, m), peak(10000, m)
		t.Logf("%s: peak heap above baseline: 1,000 samples %d KiB, 10,000 samples %d KiB", m, small>>10, large>>10)
		if large > small+1<<20 {
			t.Errorf("%s: peak heap grew from %d to %d bytes between 1,000 and 10,000 samples", m, small, large)
		}
	}
}

func BenchmarkCalibrate(b *testing.B) {
	g := mlp(784, 512, 256, 10, 7)
	targets := []Target{{Value: "fc1.a"}, {Value: "fc2.a"}}
	src := &synth{n: 1000, shape: []int{784}, seed: 3}
	for _, m := range []Method{Max, Percentile, Channel} {
		b.Run(string(m), func(b *testing.B) {
			for b.Loop() {
				if _, err := Calibrate(g, targets, src, Options{Method: m}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
