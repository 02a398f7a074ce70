package snnrt

import (
	"context"
	"fmt"
	"maps"
	"math"
	"runtime"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Input is a set of preprocessed samples in the network's input layout
// (*dataset.Set satisfies it). Batch copies samples [from, from+n) into dst.
type Input interface {
	Len() int
	SampleShape() []int
	Batch(dst []float32, from, n int) error
}

// Samples is an in-memory Input: X holds Len() samples of numel(Shape) floats.
type Samples struct {
	Shape []int
	X     []float32
}

// Len is the number of samples.
func (s *Samples) Len() int {
	if n := numel(s.Shape); n > 0 {
		return len(s.X) / n
	}
	return 0
}

// SampleShape is the per-sample shape.
func (s *Samples) SampleShape() []int { return s.Shape }

// Batch copies samples [from, from+n) into dst.
func (s *Samples) Batch(dst []float32, from, n int) error {
	sz := numel(s.Shape)
	if from < 0 || n < 0 || from+n > s.Len() || len(dst) < n*sz {
		return fmt.Errorf("samples: batch [%d, %d) out of range (len %d)", from, from+n, s.Len())
	}
	copy(dst, s.X[from*sz:(from+n)*sz])
	return nil
}

// RunOptions control one simulation.
type RunOptions struct {
	// T is the number of time steps.
	T int
	// Checkpoints are extra steps at which to record the readout; 1, 2, 4,
	// …, and T are always recorded.
	Checkpoints []int
	// Encoding overrides the network's default (Meta.Encoding; analog when unset).
	Encoding Encoding
	// Seed drives poisson encoding: sample i's spikes depend only on (Seed, i).
	Seed int64
	// Batch is how many samples are fetched from the Input at a time (0: 256).
	// It bounds memory only; results do not depend on it.
	Batch int
	// Workers is the number of goroutines (0: GOMAXPROCS).
	Workers int
	// EarlyExit > 0 stops a sample once its prediction has not changed for
	// that many steps and, by ExitRule, its readout margin is out of reach.
	EarlyExit int
	// ExitRule is what early exit asks beyond the unchanged steps (empty:
	// ExitExact).
	ExitRule ExitRule
	// Record names IF nodes whose per-neuron spike counts are returned in
	// RunResult.NeuronSpikes (IFNames lists them all).
	Record []string
	// Progress is called from the calling goroutine after each batch.
	Progress func(done, total int)
	// Context, when set, cancels the run between samples.
	Context context.Context
}

// LayerStats are the spike statistics of one IF node over the whole run.
type LayerStats struct {
	Name    string `json:"name"`
	Neurons int    `json:"neurons"`
	Spikes  int64  `json:"spikes"`
	// Rate is spikes per neuron per simulated step.
	Rate float64 `json:"rate"`
}

// OpStats count the synaptic work of one node over the whole run: ACs are
// event-driven additions (one per weight scattered), MACs multiply-adds of
// dense kernels (analog inputs: done once per sample, not per step).
type OpStats struct {
	Name string `json:"name"`
	Op   Op     `json:"op"`
	ACs  int64  `json:"acs"`
	MACs int64  `json:"macs"`
	// ANNMACs is what one analog (ANN) forward pass of a conv or dense node
	// costs per sample, every weight once per output as ann.MACs counts it:
	// the work the node's ACs stand in for. Zero for other nodes.
	ANNMACs int64 `json:"ann_macs_per_sample"`
}

// RunResult is everything one simulation records.
type RunResult struct {
	T        int
	Encoding Encoding
	Samples  int
	// Outputs is the size of the readout (number of classes).
	Outputs int
	// Checkpoints are the recorded steps, ascending; the last one is T.
	Checkpoints []int
	// Readout[c][s*Outputs+k] is V_out of sample s at step Checkpoints[c]
	// (the integral of the output current; divide by the step for its mean).
	// A sample stopped early keeps the readout of its last step.
	Readout [][]float32
	// Predictions[c][s] is argmax Readout (ties to the lowest class).
	Predictions [][]int
	// FinalStep[s] is the step from which sample s's prediction never changed.
	FinalStep []int
	// StepsUsed[s] is T, or the step at which early exit stopped sample s.
	StepsUsed []int
	MeanSteps float64
	Layers    []LayerStats
	Ops       []OpStats
	// ACs and MACs are totals over all samples.
	ACs, MACs int64
	// NeuronSpikes[layer][s*neurons+i] is the spike count of neuron i (logical
	// order) of sample s, for the layers named in RunOptions.Record.
	NeuronSpikes map[string][]int32
	Elapsed      time.Duration
	ImagesPerSec float64
}

// Checkpoint returns the index of step t in Checkpoints, or -1.
func (r *RunResult) Checkpoint(t int) int {
	for i, c := range r.Checkpoints {
		if c == t {
			return i
		}
	}
	return -1
}

// Accuracy returns, per checkpoint, the fraction of samples predicted as labels.
func (r *RunResult) Accuracy(labels []int) ([]float64, error) {
	if len(labels) != r.Samples {
		return nil, fmt.Errorf("%d labels for %d samples", len(labels), r.Samples)
	}
	acc := make([]float64, len(r.Checkpoints))
	for c, preds := range r.Predictions {
		ok := 0
		for s, p := range preds {
			if p == labels[s] {
				ok++
			}
		}
		if r.Samples > 0 {
			acc[c] = float64(ok) / float64(r.Samples)
		}
	}
	return acc, nil
}

// ACsPerImage and MACsPerImage are the run's totals divided by the samples.
func (r *RunResult) ACsPerImage() float64  { return perImage(r.ACs, r.Samples) }
func (r *RunResult) MACsPerImage() float64 { return perImage(r.MACs, r.Samples) }

// ANNMACsPerImage is the multiply-adds of one ANN forward pass of the same
// conv and dense layers, for the SNN's ACs and MACs to be set against.
func (r *RunResult) ANNMACsPerImage() float64 {
	var m int64
	for _, o := range r.Ops {
		m += o.ANNMACs
	}
	return float64(m)
}

// FinalBy returns the first step by which the predictions of at least a
// fraction q (0 < q ≤ 1) of the samples were final: how many steps that
// share of the data needs. Zero without samples.
func (r *RunResult) FinalBy(q float64) int {
	if len(r.FinalStep) == 0 {
		return 0
	}
	f := slices.Clone(r.FinalStep)
	slices.Sort(f)
	// The tolerance keeps 0.07 of 100 samples at rank 7 (0.07·100 rounds to
	// 7.000000000000001).
	k := int(math.Ceil(q*float64(len(f))-1e-9)) - 1
	return f[min(max(k, 0), len(f)-1)]
}

// EventsPerSec is the synaptic event rate achieved (ACs per second of wall time).
func (r *RunResult) EventsPerSec() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.ACs) / r.Elapsed.Seconds()
}

func perImage(v int64, n int) float64 {
	if n == 0 {
		return 0
	}
	return float64(v) / float64(n)
}

// IFNames lists the network's IF nodes in order.
func (net *Network) IFNames() []string {
	var s []string
	for _, n := range net.Nodes {
		if n.Op == OpIF {
			s = append(s, n.Name)
		}
	}
	return s
}

// maxSteps bounds T so that a typo cannot make a run (and its checkpoint
// table) unbounded.
const maxSteps = 1 << 20

// Check reports what is wrong with the options themselves (steps,
// checkpoints, negative counts), before any network or data is at hand.
func (opt RunOptions) Check() error {
	if opt.T < 1 || opt.T > maxSteps {
		return fmt.Errorf("T = %d: want 1..%d", opt.T, maxSteps)
	}
	if opt.EarlyExit < 0 || opt.Batch < 0 || opt.Workers < 0 {
		return fmt.Errorf("early exit %d, batch %d, workers %d: must not be negative", opt.EarlyExit, opt.Batch, opt.Workers)
	}
	if opt.ExitRule != "" {
		if _, err := ParseExitRule(string(opt.ExitRule)); err != nil {
			return err
		}
	}
	_, err := checkpointSteps(opt.T, opt.Checkpoints)
	return err
}

// checkpointSteps returns 1, 2, 4, …, T plus extra, sorted and unique.
func checkpointSteps(T int, extra []int) ([]int, error) {
	set := map[int]bool{T: true}
	for t := 1; t < T; t *= 2 {
		set[t] = true
	}
	for _, c := range extra {
		if c < 1 || c > T {
			return nil, fmt.Errorf("checkpoint %d outside 1..T (T = %d)", c, T)
		}
		set[c] = true
	}
	out := make([]int, 0, len(set))
	for c := range set {
		out = append(out, c)
	}
	sort.Ints(out)
	return out, nil
}

// Run simulates net on every sample of x for opt.T steps (DESIGN §2) and
// records readouts at the checkpoints plus spike and operation statistics.
// Samples are independent and run in parallel; every per-sample figure is
// bit-identical for any Workers and Batch.
func Run(net *Network, x Input, opt RunOptions) (*RunResult, error) {
	prog, err := Compile(net, opt.Encoding, opt.Record)
	if err != nil {
		return nil, err
	}
	return prog.Run(x, opt)
}

// Program is a network compiled for one encoding and one set of recorded
// layers: shapes checked, kernels built, weights laid out, and the workers'
// buffers kept between runs. Compiling once pays off when the same network
// runs many inputs (a raster's single-sample runs, benchmarks, a service);
// Run may be called from several goroutines at once. Compile copies what it
// needs, so changing the network afterwards does not change the program.
type Program struct {
	p       *plan
	notes   []string  // ForEncoding's
	workers sync.Pool // idle *worker
}

// Compile prepares net for Program.Run. An empty enc takes the network's
// default (Meta.Encoding; analog when unset); record names the IF nodes whose
// per-neuron spike counts every run returns. What runs is
// net.ForEncoding(enc).
func Compile(net *Network, enc Encoding, record []string) (*Program, error) {
	if enc == "" {
		enc = net.Meta.Encoding
	}
	if enc == "" {
		enc = EncodingAnalog
	}
	if _, err := ParseEncoding(string(enc)); err != nil {
		return nil, err
	}
	run, notes := snapshot(net).ForEncoding(enc)
	p, err := compile(run, enc, record)
	if err != nil {
		return nil, err
	}
	return &Program{p: p, notes: notes}, nil
}

// snapshot copies the network's structure (nodes, names, shapes, scales);
// tensors are shared because compile copies their contents into kernels.
func snapshot(net *Network) *Network {
	c := *net
	c.InputShape = slices.Clone(net.InputShape)
	c.Nodes = make([]*Node, len(net.Nodes))
	for i, n := range net.Nodes {
		m := *n
		m.Inputs = slices.Clone(n.Inputs)
		m.Scales = slices.Clone(n.Scales)
		c.Nodes[i] = &m
	}
	return &c
}

// worker hands out an idle worker with its counters at zero.
func (pr *Program) worker() *worker {
	if w, ok := pr.workers.Get().(*worker); ok {
		w.clearStats()
		return w
	}
	return pr.p.newWorker()
}

// sameSet reports whether names lists exactly the keys of set (in any order,
// repeats allowed).
func sameSet(names []string, set map[string]bool) bool {
	seen := map[string]bool{}
	for _, n := range names {
		if !set[n] {
			return false
		}
		seen[n] = true
	}
	return len(seen) == len(set)
}

// recordList is the recorded IF nodes, sorted.
func (p *plan) recordList() []string {
	return slices.Sorted(maps.Keys(p.record))
}

// Notes say how the network was changed to run under the program's encoding
// (see Network.ForEncoding); nil when it runs as it is.
func (pr *Program) Notes() []string { return pr.notes }

// Encoding is the input encoding the program was compiled for.
func (pr *Program) Encoding() Encoding { return pr.p.enc }

// Run simulates every sample of x. opt.Encoding and opt.Record, when set,
// must match what the program was compiled with.
func (pr *Program) Run(x Input, opt RunOptions) (*RunResult, error) {
	p := pr.p
	net := p.net
	if err := opt.Check(); err != nil {
		return nil, err
	}
	enc := p.enc
	if opt.Encoding != "" && opt.Encoding != enc {
		return nil, fmt.Errorf("network %q: compiled for %s encoding, run asked for %s", net.Name, enc, opt.Encoding)
	}
	if opt.Record != nil && !sameSet(opt.Record, p.record) {
		return nil, fmt.Errorf("network %q: compiled to record %v, run asked for %v", net.Name, p.recordList(), opt.Record)
	}
	if got := numel(x.SampleShape()); got != p.inN {
		return nil, fmt.Errorf("network %q: input %q wants samples of shape %v (%d values), data has shape %v (%d values)",
			net.Name, net.Input, net.InputShape, p.inN, x.SampleShape(), got)
	}
	cps, _ := checkpointSteps(opt.T, opt.Checkpoints) // checked above
	ctx := opt.Context
	if ctx == nil {
		ctx = context.Background()
	}
	N := x.Len()
	r := &RunResult{T: opt.T, Encoding: enc, Samples: N, Outputs: p.numOut, Checkpoints: cps,
		FinalStep: make([]int, N), StepsUsed: make([]int, N)}
	r.Readout = make([][]float32, len(cps))
	r.Predictions = make([][]int, len(cps))
	for c := range cps {
		r.Readout[c] = make([]float32, N*p.numOut)
		r.Predictions[c] = make([]int, N)
	}
	if len(p.record) > 0 {
		r.NeuronSpikes = map[string][]int32{}
		for _, n := range p.ifNodes {
			if p.record[n.Name] {
				r.NeuronSpikes[n.Name] = make([]int32, N*numel(p.shapes[n.Output]))
			}
		}
	}
	nw := opt.Workers
	if nw == 0 {
		nw = runtime.GOMAXPROCS(0)
	}
	nw = max(1, min(nw, N))
	batch := opt.Batch
	if batch == 0 {
		batch = 256
	}
	batch = min(batch, max(N, 1))
	sim := &simulation{p: p, r: r, T: opt.T, K: opt.EarlyExit, stable: opt.ExitRule == ExitStable, seed: uint64(opt.Seed), cpAt: make([]int32, opt.T+1)}
	for i := range sim.cpAt {
		sim.cpAt[i] = -1
	}
	for i, c := range cps {
		sim.cpAt[c] = int32(i)
	}
	workers := make([]*worker, nw)
	for i := range workers {
		workers[i] = pr.worker()
		workers[i].setHorizon(opt.T)
	}
	defer func() {
		for _, w := range workers {
			pr.workers.Put(w)
		}
	}()
	buf := make([]float32, batch*p.inN)
	start := time.Now()
	for from := 0; from < N; from += batch {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		n := min(batch, N-from)
		if err := x.Batch(buf[:n*p.inN], from, n); err != nil {
			return nil, fmt.Errorf("reading samples [%d, %d): %w", from, from+n, err)
		}
		var next atomic.Int64
		var wg sync.WaitGroup
		for _, w := range workers {
			wg.Go(func() {
				for {
					j := int(next.Add(1)) - 1
					if j >= n || ctx.Err() != nil {
						return
					}
					sim.sample(w, buf[j*p.inN:(j+1)*p.inN], from+j)
				}
			})
		}
		wg.Wait()
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if opt.Progress != nil {
			opt.Progress(from+n, N)
		}
	}
	r.Elapsed = time.Since(start)
	if s := r.Elapsed.Seconds(); s > 0 {
		r.ImagesPerSec = float64(N) / s
	}
	sim.collect(workers)
	return r, nil
}

// simulation holds what every worker shares in one Run.
type simulation struct {
	p    *plan
	r    *RunResult
	T, K int
	// stable: early exit needs the K unchanged steps alone (ExitStable).
	stable bool
	seed   uint64
	cpAt   []int32 // step -> checkpoint index, -1 when not a checkpoint
}

// sample runs one sample to T (or early exit) and stores its results.
func (s *simulation) sample(w *worker, x []float32, idx int) {
	p, r := s.p, s.r
	w.enc.load(x, s.seed, idx)
	for _, op := range w.ops {
		op.reset()
	}
	w.out.reset()
	pred, last, used := -1, 1, s.T
	nextCP := 0
	for t := 1; t <= s.T; t++ {
		w.enc.step()
		for _, op := range w.ops {
			op.step()
		}
		w.out.step()
		if q := s.argmax(w.out.v); q != pred {
			pred, last = q, t
		}
		if c := s.cpAt[t]; c >= 0 {
			s.store(w.out.v, int(c), idx, pred)
			nextCP = int(c) + 1
		}
		if s.K > 0 && t-last >= s.K && t < s.T && (s.stable || s.settled(w.out.v, pred, s.T-t)) {
			used = t
			break
		}
	}
	for c := nextCP; c < len(r.Checkpoints); c++ {
		s.store(w.out.v, c, idx, pred)
	}
	r.FinalStep[idx] = last
	r.StepsUsed[idx] = used
	for li, f := range w.ifs {
		if f.counts == nil {
			continue
		}
		n := len(f.counts)
		dst := r.NeuronSpikes[p.ifNodes[li].Name][idx*n : (idx+1)*n]
		if perm := p.ifPerm[li]; perm != nil {
			for l := range dst {
				dst[l] = f.counts[perm[l]]
			}
		} else {
			copy(dst, f.counts)
		}
	}
}

// settled reports whether class a, the prediction now, stays the argmax of
// V_out through the remaining rest steps whatever spikes arrive: for every
// other class c the margin V_a - V_c must exceed rest times the most that
// V_c - V_a can grow in a step (plan.exitBound). The bound is in exact
// arithmetic; the readout accumulates float32 roundings, so the margin must
// also clear a 0.1% relative allowance plus a few ulps of the potentials.
func (s *simulation) settled(v []float32, a, rest int) bool {
	d := s.p.exitBound
	if d == nil {
		return false
	}
	k := s.p.numOut
	perm := s.p.outPerm
	at := func(l int) float64 {
		if perm != nil {
			return float64(v[perm[l]])
		}
		return float64(v[l])
	}
	va := at(a)
	for c := range k {
		if c == a {
			continue
		}
		vc := at(c)
		need := max(0, float64(rest)*d[a*k+c])*1.001 + 1e-6*(math.Abs(va)+math.Abs(vc))
		if va-vc <= need {
			return false
		}
	}
	return true
}

// argmax is the class with the largest potential, the first of a tie; the
// readout may hold the classes in another order (outPerm).
func (s *simulation) argmax(v []float32) int {
	best := 0
	if perm := s.p.outPerm; perm != nil {
		bv := v[perm[0]]
		for l, i := range perm[1:len(v)] {
			if x := v[i]; x > bv {
				best, bv = l+1, x
			}
		}
		return best
	}
	bv := v[0]
	for l, x := range v[1:] {
		if x > bv {
			best, bv = l+1, x
		}
	}
	return best
}

func (s *simulation) store(v []float32, c, idx, pred int) {
	k := s.p.numOut
	dst := s.r.Readout[c][idx*k : (idx+1)*k]
	if perm := s.p.outPerm; perm != nil {
		for l := range dst {
			dst[l] = v[perm[l]]
		}
	} else {
		copy(dst, v)
	}
	s.r.Predictions[c][idx] = pred
}

// annMACs counts W's fan-in once per output of a conv or dense node.
func annMACs(n *Node, out []int) int64 {
	switch n.Op {
	case OpConv:
		return int64(numel(out)) * int64(n.W.Shape[1]*n.W.Shape[2]*n.W.Shape[3])
	case OpDense:
		return int64(numel(out)) * int64(n.W.Shape[1])
	}
	return 0
}

// collect sums the per-worker counters (integers, so the order is irrelevant).
func (s *simulation) collect(workers []*worker) {
	p, r := s.p, s.r
	var steps int64
	for _, u := range r.StepsUsed {
		steps += int64(u)
	}
	if r.Samples > 0 {
		r.MeanSteps = float64(steps) / float64(r.Samples)
	}
	for li, n := range p.ifNodes {
		ls := LayerStats{Name: n.Name, Neurons: numel(p.shapes[n.Output])}
		for _, w := range workers {
			ls.Spikes += w.ifs[li].spikes
		}
		if d := float64(ls.Neurons) * float64(steps); d > 0 {
			ls.Rate = float64(ls.Spikes) / d
		}
		r.Layers = append(r.Layers, ls)
	}
	for oi, n := range p.opNodes {
		switch n.Op {
		case OpConv, OpDense, OpSumPool, OpAdd, OpAffine:
		default:
			continue
		}
		os := OpStats{Name: n.Name, Op: n.Op, ANNMACs: annMACs(n, p.shapes[n.Output])}
		for _, w := range workers {
			a, m := w.ops[oi].stats()
			os.ACs += a
			os.MACs += m
		}
		r.ACs += os.ACs
		r.MACs += os.MACs
		r.Ops = append(r.Ops, os)
	}
}
