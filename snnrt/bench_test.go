package snnrt

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"time"
)

// Benchmarks on hand-built networks shaped like the bundled models, with
// random weights and thresholds tuned so that every IF layer fires about 10%
// of the time on synthetic stroke images (real converted models are
// benchmarked by scripts/bench.sh through the CLI).

// strokeImages draws n 28×28 images of a few thick random strokes (about
// 15-20% non-zero pixels, like MNIST digits), values in [0, 1].
func strokeImages(n int, seed uint64) *Samples {
	r := rand.New(rand.NewPCG(seed, 17))
	s := &Samples{Shape: []int{1, 28, 28}, X: make([]float32, n*784)}
	for i := range n {
		img := s.X[i*784 : (i+1)*784]
		for range 3 + r.IntN(2) {
			x0, y0 := 6+r.Float64()*16, 4+r.Float64()*20
			x1, y1 := 6+r.Float64()*16, 4+r.Float64()*20
			for k := range 40 {
				f := float64(k) / 39
				cx, cy := x0+(x1-x0)*f, y0+(y1-y0)*f
				for y := int(cy) - 2; y <= int(cy)+2; y++ {
					for x := int(cx) - 2; x <= int(cx)+2; x++ {
						if x < 0 || y < 0 || x >= 28 || y >= 28 {
							continue
						}
						d := math.Hypot(float64(x)-cx, float64(y)-cy)
						v := float32(math.Max(0, math.Min(1, 1.6-d/1.2)))
						img[y*28+x] = max(img[y*28+x], v)
					}
				}
			}
		}
	}
	return s
}

func gaussTensor(r *rand.Rand, fanIn int, shape ...int) *Tensor {
	t := &Tensor{Shape: shape, Data: make([]float32, numel(shape))}
	sd := math.Sqrt(2 / float64(fanIn))
	for i := range t.Data {
		t.Data[i] = float32(r.NormFloat64() * sd)
	}
	return t
}

func smallBias(r *rand.Rand, n int) *Tensor {
	t := &Tensor{Shape: []int{n}, Data: make([]float32, n)}
	for i := range t.Data {
		t.Data[i] = float32(r.NormFloat64() * 0.02)
	}
	return t
}

func benchIF(name, in, out string) *Node {
	return ifNode(name, in, out, []float32{1}, ResetSubtract, 0.5)
}

func mlpLike(r *rand.Rand) *Network {
	return &Network{Name: "mlp", Input: "x", InputShape: []int{1, 28, 28}, Output: "y", Nodes: []*Node{
		{Name: "fl", Op: OpFlatten, Inputs: []string{"x"}, Output: "f"},
		{Name: "fc1", Op: OpDense, Inputs: []string{"f"}, Output: "a1", W: gaussTensor(r, 784, 512, 784), B: smallBias(r, 512)},
		benchIF("if1", "a1", "s1"),
		{Name: "fc2", Op: OpDense, Inputs: []string{"s1"}, Output: "a2", W: gaussTensor(r, 512, 256, 512), B: smallBias(r, 256)},
		benchIF("if2", "a2", "s2"),
		{Name: "fc3", Op: OpDense, Inputs: []string{"s2"}, Output: "y", W: gaussTensor(r, 256, 10, 256), B: smallBias(r, 10)},
	}}
}

func lenetLike(r *rand.Rand) *Network {
	return &Network{Name: "lenet5", Input: "x", InputShape: []int{1, 28, 28}, Output: "y", Nodes: []*Node{
		{Name: "c1", Op: OpConv, Inputs: []string{"x"}, Output: "a1", W: gaussTensor(r, 25, 6, 1, 5, 5), B: smallBias(r, 6), Pads: []int{2, 2, 2, 2}},
		benchIF("if1", "a1", "s1"),
		{Name: "p1", Op: OpSumPool, Inputs: []string{"s1"}, Output: "p1", Kernel: []int{2, 2}, Strides: []int{2, 2}},
		{Name: "c2", Op: OpConv, Inputs: []string{"p1"}, Output: "a2", W: gaussTensor(r, 150, 16, 6, 5, 5), B: smallBias(r, 16)},
		benchIF("if2", "a2", "s2"),
		{Name: "p2", Op: OpSumPool, Inputs: []string{"s2"}, Output: "p2", Kernel: []int{2, 2}, Strides: []int{2, 2}},
		{Name: "fl", Op: OpFlatten, Inputs: []string{"p2"}, Output: "f"},
		{Name: "fc1", Op: OpDense, Inputs: []string{"f"}, Output: "a3", W: gaussTensor(r, 400, 120, 400), B: smallBias(r, 120)},
		benchIF("if3", "a3", "s3"),
		{Name: "fc2", Op: OpDense, Inputs: []string{"s3"}, Output: "a4", W: gaussTensor(r, 120, 84, 120), B: smallBias(r, 84)},
		benchIF("if4", "a4", "s4"),
		{Name: "fc3", Op: OpDense, Inputs: []string{"s4"}, Output: "y", W: gaussTensor(r, 84, 10, 84), B: smallBias(r, 10)},
	}}
}

func cnnBNLike(r *rand.Rand) *Network {
	return &Network{Name: "cnn_bn", Input: "x", InputShape: []int{1, 28, 28}, Output: "y", Nodes: []*Node{
		{Name: "c1", Op: OpConv, Inputs: []string{"x"}, Output: "a1", W: gaussTensor(r, 9, 32, 1, 3, 3), B: smallBias(r, 32), Pads: []int{1, 1, 1, 1}},
		benchIF("if1", "a1", "s1"),
		{Name: "c2", Op: OpConv, Inputs: []string{"s1"}, Output: "a2", W: gaussTensor(r, 288, 32, 32, 3, 3), B: smallBias(r, 32), Pads: []int{1, 1, 1, 1}},
		benchIF("if2", "a2", "s2"),
		{Name: "p1", Op: OpSumPool, Inputs: []string{"s2"}, Output: "p1", Kernel: []int{2, 2}, Strides: []int{2, 2}},
		{Name: "c3", Op: OpConv, Inputs: []string{"p1"}, Output: "a3", W: gaussTensor(r, 288, 64, 32, 3, 3), B: smallBias(r, 64), Pads: []int{1, 1, 1, 1}},
		benchIF("if3", "a3", "s3"),
		{Name: "p2", Op: OpSumPool, Inputs: []string{"s3"}, Output: "p2", Kernel: []int{2, 2}, Strides: []int{2, 2}},
		{Name: "fl", Op: OpFlatten, Inputs: []string{"p2"}, Output: "f"},
		{Name: "fc", Op: OpDense, Inputs: []string{"f"}, Output: "y", W: gaussTensor(r, 3136, 10, 3136), B: smallBias(r, 10)},
	}}
}

// tuneRates sets each IF layer's threshold, in order, so that the layer
// fires at about target spikes per neuron per step on the calibration images.
func tuneRates(tb testing.TB, net *Network, calib *Samples, target float64) {
	for li, name := range net.IFNames() {
		var node *Node
		for _, n := range net.Nodes {
			if n.Name == name {
				node = n
			}
		}
		lo, hi := -8.0, 8.0 // log2 θ
		for range 14 {
			mid := (lo + hi) / 2
			node.Threshold = []float32{float32(math.Exp2(mid))}
			res, err := Run(net, calib, RunOptions{T: 32})
			if err != nil {
				tb.Fatal(err)
			}
			if res.Layers[li].Rate > target {
				lo = mid
			} else {
				hi = mid
			}
		}
		node.Threshold = []float32{float32(math.Exp2((lo + hi) / 2))}
	}
}

var (
	benchOnce   sync.Once
	benchModels map[string]*Network
)

func benchNets(tb testing.TB) map[string]*Network {
	benchOnce.Do(func() {
		calib := strokeImages(16, 99)
		benchModels = map[string]*Network{}
		for i, mk := range []func(*rand.Rand) *Network{mlpLike, lenetLike, cnnBNLike} {
			n := mk(rand.New(rand.NewPCG(uint64(i), 5)))
			tuneRates(tb, n, calib, 0.10)
			benchModels[n.Name] = n
		}
	})
	return benchModels
}

// BenchmarkRun: images/s and synaptic events/s at T=32 and T=128, batch 64,
// 2 workers, analog encoding, on digit-like and on blank images; each
// network is compiled once, outside the timed loop. Digit runs also report
// the scatter-add limit measured just before them and their events/s as a
// fraction of it.
func BenchmarkRun(b *testing.B) {
	nets := benchNets(b)
	digits := strokeImages(64, 1)
	blank := &Samples{Shape: []int{1, 28, 28}, X: make([]float32, 64*784)}
	for _, name := range []string{"mlp", "lenet5", "cnn_bn"} {
		for _, T := range []int{32, 128} {
			for _, in := range []struct {
				name string
				x    *Samples
			}{{"digit", digits}, {"blank", blank}} {
				b.Run(fmt.Sprintf("%s/T=%d/%s", name, T, in.name), func(b *testing.B) {
					prog, err := Compile(nets[name], EncodingAnalog, nil)
					if err != nil {
						b.Fatal(err)
					}
					b.ReportAllocs()
					// The limit of this very minute, for digits (see
					// scatterAddLimit; b.Loop starts the timer afterwards).
					var limit float64
					if in.name == "digit" {
						limit = scatterAddLimit(600 * time.Millisecond)
					}
					var acs, spikes, neurons float64
					for b.Loop() {
						res, err := prog.Run(in.x, RunOptions{T: T, Batch: 64, Workers: 2})
						if err != nil {
							b.Fatal(err)
						}
						acs += float64(res.ACs)
						spikes, neurons = 0, 0
						for _, l := range res.Layers {
							spikes += float64(l.Spikes)
							neurons += float64(l.Neurons)
						}
					}
					sec := b.Elapsed().Seconds()
					b.ReportMetric(float64(b.N*64)/sec, "images/s")
					b.ReportMetric(acs/sec, "events/s")
					b.ReportMetric(spikes/(neurons*float64(T)*64), "rate")
					if limit > 0 {
						b.ReportMetric(limit, "limit-adds/s")
						b.ReportMetric(acs/sec/limit, "of-limit")
					}
				})
			}
		}
	}
}

// scatterRowLens are the row lengths the scatter-add limit is measured at
// (the bundled models' fan-outs range over them); the limit is the best.
var scatterRowLens = []int{6, 16, 32, 64, 120, 256}

// scatterAdder adds weight rows of length L at random offsets of a float32
// buffer the size of a large membrane (256 KiB): the raw work of an event.
type scatterAdder struct {
	L    int
	buf  []float32
	rows []float32
	offs []int32
	i    int
}

func newScatterAdder(L int, seed uint64) *scatterAdder {
	const size = 1 << 16
	r := rand.New(rand.NewPCG(seed, 3))
	s := &scatterAdder{L: L, buf: make([]float32, size), rows: make([]float32, 64*L), offs: make([]int32, 4096)}
	for i := range s.rows {
		s.rows[i] = r.Float32()
	}
	for i := range s.offs {
		s.offs[i] = int32(r.IntN(size - L))
	}
	return s
}

// add64 scatters 64 rows.
func (s *scatterAdder) add64() {
	L := s.L
	for k := range 64 {
		o := int(s.offs[(s.i+k)&4095])
		addTo(s.buf[o:o+L], s.rows[k*L:k*L+L])
	}
	s.i += 64
}

// BenchmarkScatterAdd is the machine's raw limit for event-driven work, on
// GOMAXPROCS goroutines, at each row length.
func BenchmarkScatterAdd(b *testing.B) {
	for _, L := range scatterRowLens {
		b.Run(fmt.Sprintf("L=%d", L), func(b *testing.B) {
			var mu sync.Mutex
			seed := uint64(0)
			b.RunParallel(func(pb *testing.PB) {
				mu.Lock()
				seed++
				s := newScatterAdder(L, seed)
				mu.Unlock()
				for pb.Next() {
					s.add64()
				}
			})
			b.ReportMetric(float64(b.N)*64*float64(L)/b.Elapsed().Seconds(), "adds/s")
		})
	}
}

// scatterAddLimit is BenchmarkScatterAdd's figure measured in about d: the
// best adds/s over the row lengths, on GOMAXPROCS goroutines. The bundled
// benchmarks take it right before each run, so that the fraction of the
// limit they report pairs two figures of the same minute on a machine whose
// speed drifts.
func scatterAddLimit(d time.Duration) float64 {
	workers := runtime.GOMAXPROCS(0)
	best := 0.0
	for _, L := range scatterRowLens {
		var wg sync.WaitGroup
		var mu sync.Mutex
		var adds int64
		deadline := time.Now().Add(d / time.Duration(len(scatterRowLens)))
		start := time.Now()
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s := newScatterAdder(L, uint64(w+1))
				n := int64(0)
				for time.Now().Before(deadline) {
					for range 16 {
						s.add64()
					}
					n += 16 * 64 * int64(L)
				}
				mu.Lock()
				adds += n
				mu.Unlock()
			}()
		}
		wg.Wait()
		best = max(best, float64(adds)/time.Since(start).Seconds())
	}
	return best
}

// TestNoAllocInStepLoop: a whole sample (reset, T steps, recording) does not
// allocate once the worker exists.
func TestNoAllocInStepLoop(t *testing.T) {
	r := rand.New(rand.NewPCG(2, 2))
	for _, net := range []*Network{lenetLike(r), mergeTestNet(r), convTestNet(r)} {
		for _, enc := range []Encoding{EncodingAnalog, EncodingPoisson} {
			p, err := compile(net, enc, net.IFNames())
			if err != nil {
				t.Fatal(err)
			}
			in := testInputs(r, net.InputShape, 1)
			res := &RunResult{Samples: 1, Outputs: p.numOut, Checkpoints: []int{1, 2, 4, 8, 16}, FinalStep: make([]int, 1), StepsUsed: make([]int, 1),
				Readout: make([][]float32, 5), Predictions: make([][]int, 5), NeuronSpikes: map[string][]int32{}}
			for c := range 5 {
				res.Readout[c] = make([]float32, p.numOut)
				res.Predictions[c] = make([]int, 1)
			}
			for _, n := range p.ifNodes {
				res.NeuronSpikes[n.Name] = make([]int32, numel(p.shapes[n.Output]))
			}
			sim := &simulation{p: p, r: res, T: 16, cpAt: make([]int32, 17)}
			for i := range sim.cpAt {
				sim.cpAt[i] = -1
			}
			for i, c := range res.Checkpoints {
				sim.cpAt[c] = int32(i)
			}
			w := p.newWorker()
			allocs := testing.AllocsPerRun(5, func() { sim.sample(w, in.X, 0) })
			if allocs != 0 {
				t.Fatalf("%s/%s: %v allocations per sample", net.Name, enc, allocs)
			}
		}
	}
}
