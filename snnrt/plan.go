package snnrt

import (
	"fmt"
	"math"
	"math/bits"
	"slices"
)

// kind says how a value evolves over the steps of one sample; the plan picks
// each node's kernel from its inputs' kinds.
type kind uint8

const (
	// kindConst: the same every step (the analog input and what is computed
	// from it alone), so it is computed once per sample.
	kindConst kind = iota
	// kindSparse: zero except at the entries listed this step (spikes, spike
	// counts, encoded input events); work is proportional to the list.
	kindSparse
	// kindDense: real-valued and recomputed every step (currents).
	kindDense
)

// vbuf holds one value of one sample: data is always the full array (zeros
// outside act for sparse values), act lists the non-zero entries of sparse ones.
type vbuf struct {
	data []float32
	act  []int32
	// dataless: data is never written (see valueInfo.dataless).
	dataless bool
}

// clearActive zeroes the entries listed last step and empties the list.
func (b *vbuf) clearActive() {
	if b.dataless {
		b.act = b.act[:0]
		return
	}
	for _, a := range b.act {
		b.data[a] = 0
	}
	b.act = b.act[:0]
}

type valueInfo struct {
	shape  []int
	n      int
	kind   kind
	binary bool // sparse and every listed entry is exactly 1
	// dataless: a binary value every consumer reads through its list alone
	// (see markDataless), so its data array stays zero and untouched.
	dataless bool
	alias    string
	// perm, with alias: entry a of the aliased buffer is entry perm[a] of
	// this value (a layout change that only Dense layers read, folded into
	// their weights).
	perm []int32
	// slot >= 0: the value is never materialised; its producer scatters
	// straight into accumulator slot (the membrane of its one IF consumer, or
	// the readout) and fusedBias is added there every step.
	slot      int
	fusedBias []float32
	// fusedSrc, with slot: the producer's input when it is listed events,
	// whose list then says whether anything reached the membrane this step.
	fusedSrc string
	// peak bounds |entry| of a sparse value at any step (+Inf: unknown, as
	// for encoded input, whose events carry the sample's max|x|); signed
	// says entries may be negative. The early-exit bound is built on them.
	peak   float64
	signed bool
}

// stepOp is one node, instantiated per worker with its own buffers.
type stepOp interface {
	// reset prepares a new sample (and computes constant values).
	reset()
	// step advances one time step.
	step()
	stats() (acs, macs int64)
	clearStats()
}

// counters is the synaptic work an op did since the last clearStats.
type counters struct{ acs, macs int64 }

func (c *counters) stats() (int64, int64) { return c.acs, c.macs }
func (c *counters) clearStats()           { *c = counters{} }

type plan struct {
	net      *Network
	enc      Encoding
	shapes   map[string][]int
	kinds    map[string]kind // valueKinds
	vals     map[string]*valueInfo
	inPerm   []int32
	inN      int
	builders []func(w *worker) stepOp
	opNodes  []*Node
	accSizes []int
	outSlot  int
	outPerm  []int32
	numOut   int
	ifNodes  []*Node
	ifPerm   [][]int32
	record   map[string]bool
	// exitBound[a*numOut+c] bounds how much V_out[c] - V_out[a] can grow in
	// one step (logical class order); nil when no bound is known.
	exitBound []float64
}

// readoutBound bounds, for every pair of classes (a, c), the growth of
// V_out[c] - V_out[a] in one step: with a fused Dense readout on a sparse
// value x whose entries lie in [0, P] (or [-P, P] when signed),
// I_c - I_a = b_c - b_a + Σ_i (W_ci - W_ai)·x_i is at most
// b_c - b_a + P·Σ_i max(0, W_ci - W_ai) (Σ_i |W_ci - W_ai| when signed).
// Any other readout (unfused, a Conv, encoded or constant input) has none.
func (p *plan) readoutBound() []float64 {
	var out *Node
	for _, n := range p.net.Nodes {
		if n.Output == p.net.Output {
			out = n
		}
	}
	if out == nil || out.Op != OpDense || p.vals[out.Output].slot < 0 {
		return nil
	}
	x := p.vals[out.Inputs[0]]
	if x.kind != kindSparse || math.IsInf(x.peak, 0) {
		return nil
	}
	k, in := out.W.Shape[0], out.W.Shape[1]
	w := out.W.Data
	d := make([]float64, k*k)
	for a := range k {
		for c := range k {
			if a == c {
				continue
			}
			var s float64
			for i := range in {
				g := float64(w[c*in+i]) - float64(w[a*in+i])
				if x.signed {
					s += math.Abs(g)
				} else {
					s += max(0, g)
				}
			}
			s *= x.peak
			if out.B != nil {
				s += float64(out.B.Data[c]) - float64(out.B.Data[a])
			}
			d[a*k+c] = s
		}
	}
	return d
}

// worker owns one copy of every buffer; samples never share state.
type worker struct {
	p    *plan
	bufs map[string]*vbuf
	accs [][]float32
	ops  []stepOp
	ifs  []*ifOp
	out  *readout
	enc  *encoder
}

func compile(net *Network, enc Encoding, record []string) (*plan, error) {
	if net.Meta.SemanticsVersion != 0 && net.Meta.SemanticsVersion != SemanticsVersion {
		return nil, fmt.Errorf("network %q: semantics version %d is not supported (this runtime implements %d)", net.Name, net.Meta.SemanticsVersion, SemanticsVersion)
	}
	shapes, err := inferShapes(net)
	if err != nil {
		return nil, err
	}
	p := &plan{net: net, enc: enc, shapes: shapes, kinds: valueKinds(net, enc), vals: map[string]*valueInfo{}, outSlot: -1, record: map[string]bool{}}
	consumers := map[string][]*Node{}
	for _, n := range net.Nodes {
		for _, in := range n.Inputs {
			consumers[in] = append(consumers[in], n)
		}
	}
	in := &valueInfo{shape: net.InputShape, n: numel(net.InputShape), kind: p.kinds[net.Input], slot: -1, peak: math.Inf(1), signed: true}
	p.vals[net.Input] = in
	p.inPerm = toInternal(net.InputShape)
	p.inN = in.n
	for _, n := range net.Nodes {
		if err := p.addNode(n, consumers); err != nil {
			return nil, fmt.Errorf("node %q (%s): %w", n.Name, n.Op, err)
		}
	}
	ifIdx := map[string]bool{}
	for _, n := range p.ifNodes {
		ifIdx[n.Name] = true
	}
	for _, r := range record {
		if !ifIdx[r] {
			return nil, fmt.Errorf("network %q: cannot record spikes of %q: not an IF node", net.Name, r)
		}
		p.record[r] = true
	}
	p.markDataless()
	ov := p.vals[net.Output]
	p.numOut = ov.n
	p.exitBound = p.readoutBound()
	p.outPerm = toInternal(ov.shape)
	return p, nil
}

// valueKinds is the kind of every value of net under enc: the plan's (each
// value's valueInfo.kind), and what ForEncoding and SpikingMaxPools read.
func valueKinds(net *Network, enc Encoding) map[string]kind {
	kinds := map[string]kind{net.Input: kindSparse}
	if enc == EncodingAnalog {
		kinds[net.Input] = kindConst
	}
	for _, n := range net.Nodes {
		if n == nil || len(n.Inputs) == 0 {
			continue // inferShapes refuses it
		}
		x := kinds[n.Inputs[0]]
		out := x
		switch n.Op {
		case OpConv, OpDense:
			if x != kindConst {
				out = kindDense
			}
		case OpIF:
			out = kindSparse
		case OpAffine:
			if x == kindSparse && n.B != nil && slices.ContainsFunc(n.B.Data, func(b float32) bool { return b != 0 }) {
				out = kindDense
			}
		case OpFlatten, OpReshape, OpConcat, OpAdd:
			for _, in := range n.Inputs[1:] {
				if kinds[in] != x {
					out = kindDense
				}
			}
		}
		kinds[n.Output] = out
	}
	return kinds
}

func (p *plan) addNode(n *Node, consumers map[string][]*Node) error {
	ins := make([]*valueInfo, len(n.Inputs))
	for i, name := range n.Inputs {
		ins[i] = p.vals[name]
		if ins[i].slot >= 0 && n.Op != OpIF {
			return fmt.Errorf("internal: input %q was fused away", name)
		}
	}
	shape := p.shapes[n.Output]
	out := &valueInfo{shape: shape, n: numel(shape), kind: p.kinds[n.Output], slot: -1, peak: math.Inf(1), signed: true}
	p.vals[n.Output] = out
	x := ins[0]
	inName := n.Inputs[0]
	switch n.Op {
	case OpConv, OpDense:
		var k synKernel
		if n.Op == OpConv {
			k = newConvKernel(n, x.shape, shape)
		} else {
			k = newDenseKernel(n.W, x.perm)
		}
		// An all-zero bias is no bias: adding it changes no membrane, and
		// without one a layer no event reaches stays as it was (see
		// ifOp.quiet).
		var bias []float32
		if n.B != nil && !allZero(n.B.Data) {
			bias = expandPerChannel(n.B.Data, shape)
		}
		// A constant is computed once per sample into its own buffer; a
		// current read by one IF node, or the readout's, goes straight into
		// the membrane.
		cs := consumers[n.Output]
		fuse := out.kind != kindConst && (n.Output != p.net.Output && len(cs) == 1 && cs[0].Op == OpIF || n.Output == p.net.Output && len(cs) == 0)
		if fuse {
			out.slot = p.newSlot(out.n)
			out.fusedBias = bias
			if x.kind == kindSparse {
				out.fusedSrc = inName
			}
		}
		if fuse && n.Output == p.net.Output {
			p.outSlot = out.slot
		}
		inKind, inBin := x.kind, x.binary
		o := out
		p.add(n, func(w *worker) stepOp {
			s := &synOp{k: k, in: w.buf(inName), inKind: inKind, inBinary: inBin, bias: bias}
			if ck, ok := k.(*convKernel); ok {
				s.sc = ck.newScratch(x.n, runsPerCall)
			} else {
				s.sc = newScratch(x.n)
			}
			if o.slot >= 0 {
				s.dst = w.accs[o.slot]
			} else {
				s.out = w.buf(n.Output)
				s.dst = s.out.data
			}
			return s
		})
	case OpSumPool:
		g := newPoolGeom(n, x.shape, shape)
		widest := 0
		for _, w := range g.win {
			widest = max(widest, len(w))
		}
		out.peak, out.signed = x.peak*float64(widest), x.signed
		kd, bin := x.kind, x.binary
		p.add(n, func(w *worker) stepOp {
			return &sumPoolOp{g: g, in: w.buf(inName), out: w.buf(n.Output), kind: kd, binary: bin, reached: make([]uint64, (out.n+63)/64)}
		})
	case OpSpikeMaxPool:
		if x.kind == kindDense {
			return fmt.Errorf("input %q is a current that changes every step under %s encoding, and the pool's output is not read by one IF node alone (which would then fire before the pool): max pooling takes spikes, or a current that stays the same (the analog input's; convert the model for %s encoding to pool its spikes instead)", inName, p.enc, p.enc)
		}
		out.binary = x.binary
		out.peak, out.signed = x.peak, x.signed
		g := newPoolGeom(n, x.shape, shape)
		lead0 := g.leaders0(out.n)
		kd, bin := x.kind, x.binary
		p.add(n, func(w *worker) stepOp {
			return newMaxPoolOp(g, w.buf(inName), w.buf(n.Output), kd, bin, lead0)
		})
	case OpFlatten, OpReshape, OpConcat:
		maps := make([][]int32, len(ins))
		out.binary = true
		out.peak, out.signed = 0, false
		for i, v := range ins {
			out.peak, out.signed = max(out.peak, v.peak), out.signed || v.signed
			if n.Op == OpConcat {
				maps[i] = concatMap(inShapes(ins), i, n.Axis, shape)
			} else {
				maps[i] = remap(v.shape, shape)
			}
			out.binary = out.binary && v.binary
		}
		if out.kind != kindSparse {
			out.binary = false
		}
		if len(ins) == 1 && isIdentity(maps[0]) {
			out.alias = p.root(inName)
			return nil
		}
		// A layout change read by Dense layers alone (a Flatten before the
		// classifier) moves no values: the Dense layers take the input's
		// entries in its own order with their weight columns permuted, the
		// same events in the same order.
		if len(ins) == 1 && x.perm == nil && n.Output != p.net.Output && onlyDense(consumers[n.Output]) {
			out.alias, out.perm = p.root(inName), maps[0]
			return nil
		}
		kd := out.kind
		names := append([]string(nil), n.Inputs...)
		p.add(n, func(w *worker) stepOp {
			r := &remapOp{maps: maps, out: w.buf(n.Output), kind: kd}
			for i, nm := range names {
				r.ins = append(r.ins, w.buf(nm))
				r.bins = append(r.bins, ins[i].binary)
			}
			return r
		})
	case OpAdd:
		scales := n.Scales
		if scales == nil {
			scales = make([]float32, len(ins))
			for i := range scales {
				scales[i] = 1
			}
		}
		out.peak, out.signed = 0, false
		for i, v := range ins {
			out.peak += math.Abs(float64(scales[i])) * v.peak
			out.signed = out.signed || v.signed || scales[i] < 0
		}
		kd := out.kind
		names := append([]string(nil), n.Inputs...)
		p.add(n, func(w *worker) stepOp {
			a := &addOp{scales: scales, out: w.buf(n.Output), kind: kd, reached: make([]uint64, (out.n+63)/64)}
			for _, nm := range names {
				a.ins = append(a.ins, w.buf(nm))
			}
			return a
		})
	case OpAffine:
		scale := expandPerChannel(n.W.Data, shape)
		var bias []float32
		if n.B != nil && !allZero(n.B.Data) {
			bias = expandPerChannel(n.B.Data, shape)
		}
		out.peak, out.signed = 0, x.signed
		for _, v := range n.W.Data {
			out.peak = max(out.peak, math.Abs(float64(v))*x.peak)
			out.signed = out.signed || v < 0
		}
		kd := out.kind
		p.add(n, func(w *worker) stepOp {
			return &affineOp{scale: scale, bias: bias, in: w.buf(inName), out: w.buf(n.Output), kind: kd}
		})
	case OpIF:
		out.binary = true
		out.peak, out.signed = 1, false
		th := expandPerChannel(n.Threshold, shape)
		v0 := make([]float32, len(th))
		for i, t := range th {
			v0[i] = n.VInit * t
		}
		zero := n.Reset == ResetZero
		quiet0 := true
		for i, t := range th {
			quiet0 = quiet0 && v0[i] < t
		}
		inKind := x.kind
		fused := x.slot >= 0
		fb, src := x.fusedBias, x.fusedSrc
		thP, curP := period(th, len(th)), 0
		if fb != nil {
			curP = period(fb, len(fb))
		}
		idx := len(p.ifNodes)
		p.ifNodes = append(p.ifNodes, n)
		p.ifPerm = append(p.ifPerm, toInternal(shape))
		p.add(n, func(w *worker) stepOp {
			o := &ifOp{th: th, v0: v0, zero: zero, out: w.buf(n.Output), inKind: inKind, fused: fused, quiet0: quiet0}
			if fused {
				o.v = w.accs[x.slot]
				o.cur = fb
				if fb == nil && src != "" {
					o.src = w.buf(src)
				}
			} else {
				o.v = make([]float32, len(th))
				o.in = w.buf(inName)
				if inKind != kindSparse {
					o.cur = o.in.data
				} else {
					o.src = o.in
				}
				if inKind == kindConst {
					n := len(th)
					o.compact, o.horizon = true, math.Inf(1)
					o.live = make([]int32, 0, n+8)
					o.cv, o.ccur, o.cth = make([]float32, 0, n+8), make([]float32, 0, n+8), make([]float32, 0, n+8)
				}
			}
			if p.record[n.Name] {
				o.counts = make([]int32, len(th))
			}
			switch {
			case fused && fb != nil:
				o.per = lcm(thP, curP)
			case o.cur != nil:
				o.per = len(th) &^ 7
			default:
				o.per = thP
			}
			w.ifs[idx] = o
			return o
		})
	default:
		return fmt.Errorf("unknown op")
	}
	return nil
}

// markDataless finds the spikes (of IF nodes, and of spiking max pools of
// them) read only through their spike lists: by Conv and Dense scatters, sum
// and spiking max pools and sparse remaps, which all take a listed entry of
// a binary value as 1. Their spikes need not be written to (and cleared
// from) a full-size array every step, which keeps the caches for membranes
// and weights.
func (p *plan) markDataless() {
	readers := map[string][]*Node{}
	for _, n := range p.net.Nodes {
		for _, in := range n.Inputs {
			r := p.root(in)
			readers[r] = append(readers[r], n)
		}
	}
	for _, n := range p.net.Nodes {
		v := p.vals[n.Output]
		spikes := n.Op == OpIF || n.Op == OpSpikeMaxPool && v.kind == kindSparse && v.binary
		if !spikes || p.root(p.net.Output) == n.Output {
			continue
		}
		ok := true
		for _, c := range readers[n.Output] {
			switch c.Op {
			case OpConv, OpDense, OpSumPool, OpSpikeMaxPool:
			case OpFlatten, OpReshape, OpConcat:
				out := p.vals[c.Output]
				ok = ok && (out.alias != "" || out.kind == kindSparse)
			default:
				ok = false
			}
		}
		v.dataless = ok
	}
}

// onlyDense reports whether there are consumers and all are Dense layers.
func onlyDense(cs []*Node) bool {
	for _, c := range cs {
		if c.Op != OpDense {
			return false
		}
	}
	return len(cs) > 0
}

func inShapes(v []*valueInfo) [][]int {
	s := make([][]int, len(v))
	for i := range v {
		s[i] = v[i].shape
	}
	return s
}

func (p *plan) newSlot(n int) int {
	p.accSizes = append(p.accSizes, n)
	return len(p.accSizes) - 1
}

func (p *plan) add(n *Node, b func(w *worker) stepOp) {
	p.builders = append(p.builders, b)
	p.opNodes = append(p.opNodes, n)
}

// root follows aliases to the value that owns the buffers.
func (p *plan) root(name string) string {
	for p.vals[name].alias != "" {
		name = p.vals[name].alias
	}
	return name
}

func (p *plan) newWorker() *worker {
	w := &worker{p: p, bufs: map[string]*vbuf{}, ifs: make([]*ifOp, len(p.ifNodes))}
	for _, n := range p.accSizes {
		w.accs = append(w.accs, make([]float32, n))
	}
	w.enc = newEncoder(p.enc, p.inN, p.inPerm, w.buf(p.net.Input))
	for _, b := range p.builders {
		w.ops = append(w.ops, b(w))
	}
	ov := p.vals[p.net.Output]
	r := &readout{}
	if ov.slot >= 0 {
		r.v, r.bias, r.fused = w.accs[ov.slot], ov.fusedBias, true
	} else {
		r.v, r.in, r.kind = make([]float32, ov.n), w.buf(p.net.Output), ov.kind
	}
	w.out = r
	return w
}

// setHorizon tells the worker's IF layers how many steps a run takes, so
// that a constant current too weak to reach θ in that many steps leaves its
// neurons out.
func (w *worker) setHorizon(T int) {
	for _, f := range w.ifs {
		f.horizon = float64(T)
	}
}

// clearStats zeroes what the worker counted, for its next run.
func (w *worker) clearStats() {
	for _, op := range w.ops {
		op.clearStats()
	}
}

// buf returns (allocating on first use) the buffers of a value.
func (w *worker) buf(name string) *vbuf {
	name = w.p.root(name)
	if b, ok := w.bufs[name]; ok {
		return b
	}
	v := w.p.vals[name]
	b := &vbuf{data: make([]float32, v.n), dataless: v.dataless}
	if v.kind == kindSparse {
		// 8 more: the IF kernel stores whole blocks of 8 indices.
		b.act = make([]int32, 0, v.n+8)
	}
	w.bufs[name] = b
	return b
}

// synOp is a Conv or Dense node: it scatters each input event's fan-out.
type synOp struct {
	k        synKernel
	in       *vbuf
	inKind   kind
	inBinary bool
	out      *vbuf // nil when fused into an accumulator
	dst      []float32
	bias     []float32
	sc       *scratch
	counters
}

func (s *synOp) fillBias() {
	if s.bias != nil {
		copy(s.dst, s.bias)
	} else {
		clear(s.dst)
	}
}

func (s *synOp) reset() {
	if s.inKind == kindConst {
		s.fillBias()
		s.macs += s.k.all(s.dst, s.in.data, s.sc)
	}
}

func (s *synOp) step() {
	switch s.inKind {
	case kindSparse:
		if s.out != nil {
			s.fillBias()
		}
		if len(s.in.act) == 0 {
			// An empty call still costs the kernels their setup (a
			// few hundred instructions), steps of a quiet network
			// included.
			return
		}
		if s.inBinary {
			s.acs += s.k.spikes(s.dst, s.in.act, s.sc)
		} else {
			s.acs += s.k.events(s.dst, s.in.act, s.in.data, s.sc)
		}
	case kindDense:
		if s.out != nil {
			s.fillBias()
		}
		s.macs += s.k.all(s.dst, s.in.data, s.sc)
	}
}

// lcm of two periods, both divisors of the same n&^7, so the result
// divides it too (0 when n&^7 is: there is no vector part).
func lcm(a, b int) int {
	if a == 0 || b == 0 {
		return 0
	}
	g, h := a, b
	for h != 0 {
		g, h = h, g%h
	}
	return a / g * b
}

// sumPoolOp sums windows; sparse inputs scatter each event into the windows
// that contain it, and the windows they reached are listed in ascending
// order.
type sumPoolOp struct {
	g       *poolGeom
	in, out *vbuf
	kind    kind
	binary  bool // the input is binary: a listed entry is 1
	// reached has bit o set when an event of this step reached output o;
	// listBits lists and clears them.
	reached []uint64
	counters
}

// full pools a whole value (constant or dense input).
func (s *sumPoolOp) full() {
	g := s.g
	out := s.out.data
	clear(out)
	for i, v := range s.in.data {
		if v == 0 {
			continue
		}
		pix := g.cdiv.div(i)
		c := i - pix*g.c
		for _, op := range g.outs[pix] {
			out[int(op)*g.c+c] += v
		}
		s.acs += int64(len(g.outs[pix]))
	}
}

func (s *sumPoolOp) reset() {
	switch s.kind {
	case kindConst:
		s.full()
	case kindSparse:
		s.out.clearActive()
	}
}

func (s *sumPoolOp) step() {
	switch s.kind {
	case kindSparse:
		s.out.clearActive()
		if s.g.one != nil {
			s.stepOne()
		} else {
			s.stepWindows()
		}
		s.out.act = listBits(s.reached, s.out.act)
	case kindDense:
		s.full()
	}
}

// stepOne: windows that do not overlap, one lookup per event.
func (s *sumPoolOp) stepOne() {
	var data []float32
	if !s.binary {
		data = s.in.data
	}
	s.acs += int64(poolSumOne(s.in.act, data, s.g.one, s.out.data, s.reached))
}

// poolSumOneGo is stepOne's loop (data nil: every event is a spike): it adds
// each event into its window, marks the window reached and returns the adds.
// poolSumOne (add_*.go) may do it in assembly.
func poolSumOneGo(act []int32, data []float32, one []int32, out []float32, reached []uint64) int {
	acs := 0
	for _, a := range act {
		v := float32(1)
		if data != nil {
			v = data[a]
		}
		o := one[a]
		if o < 0 {
			continue
		}
		out[o] += v
		reached[o>>6] |= 1 << (o & 63)
		acs++
	}
	return acs
}

// stepWindows: every window that holds the event's pixel.
func (s *sumPoolOp) stepWindows() {
	g := s.g
	nc := g.c
	out, in, reached := s.out.data, s.in.data, s.reached
	acs := 0
	for _, a := range s.in.act {
		v := float32(1)
		if !s.binary {
			v = in[a]
		}
		i := int(a)
		pix := g.cdiv.div(i)
		c := i - pix*nc
		outs := g.outs[pix]
		for _, op := range outs {
			o := int(op)*nc + c
			out[o] += v
			reached[o>>6] |= 1 << (o & 63)
		}
		acs += len(outs)
	}
	s.acs += int64(acs)
}

// listBits appends the positions of the set bits of set to act, in
// ascending order, and clears set.
func listBits(set []uint64, act []int32) []int32 {
	for i, word := range set {
		if word == 0 {
			continue
		}
		set[i] = 0
		for ; word != 0; word &= word - 1 {
			act = append(act, int32(i<<6+bits.TrailingZeros64(word)))
		}
	}
	return act
}

// maxPoolOp is DESIGN §2's spiking max pool: each window passes the spikes of
// its input with the largest spike count so far (this step included), ties
// to the lowest index. Counts only grow, so each window keeps its leader's
// rank key (see rank), which only grows too: an input that gains count takes
// the lead exactly when its new key is at least the window's, one integer
// max per window and no rescan. The window's leader at the end of a step
// fired this step exactly when some spike of the step made its input the
// leader (that input, or a later one that overtook it), so that is all a
// window records: one bit, and the output spikes are the set bits, listed in
// ascending order.
type maxPoolOp struct {
	g       *poolGeom
	in, out *vbuf
	kind    kind
	count   []float32
	// lead[o] is the rank key of window o's leader; lead0 holds the keys at
	// count zero (the lowest index leads).
	lead, lead0 []uint64
	// spiked has bit o set when a spike of this step made its input window
	// o's leader; emit lists and clears them.
	spiked []uint64
	binary bool // the input is binary: a listed entry is 1
	counters
}

// rank orders (count, input) pairs as the max-pool rule does: a larger count
// first, then a lower index. Counts are sums of |spike values|, never
// negative or NaN, so their float32 bits order like their values.
func rank(count float32, i int32) uint64 {
	return uint64(math.Float32bits(count))<<32 | uint64(math.MaxUint32-uint32(i))
}

// leader is the input index a rank key holds.
func leader(key uint64) int32 { return int32(math.MaxUint32 - uint32(key)) }

// windowMax sets each output to its window's largest input (+0 over -0,
// which no later operation tells apart), 0 for a window that lies entirely
// in the padding. A window's channels are contiguous, so it goes one input
// pixel at a time over all of them.
func (g *poolGeom) windowMax(in, out []float32) { windowMax(g, in, out) }

// windowMaxGo is windowMax in Go; the builtin max has no branch to
// mispredict.
func windowMaxGo(g *poolGeom, in, out []float32) {
	c := g.c
	for q := range len(g.winAt) - 1 {
		o := out[q*c : (q+1)*c]
		w := g.winOff[g.winAt[q]:g.winAt[q+1]]
		if len(w) == 0 {
			clear(o)
			continue
		}
		copy(o, in[w[0]:][:c])
		for _, p := range w[1:] {
			for k, v := range in[p:][:c] {
				o[k] = max(o[k], v)
			}
		}
	}
}

// leaders0 is every output's leader key when all counts are zero; windows
// that lie entirely in the padding (never touched) get 0.
func (g *poolGeom) leaders0(n int) []uint64 {
	lead := make([]uint64, n)
	for o := range lead {
		q := o / g.c
		if w := g.win[q]; len(w) > 0 {
			lead[o] = rank(0, w[0]*int32(g.c)+int32(o-q*g.c))
		}
	}
	return lead
}

// newMaxPoolOp is one worker's max pool from in to out; lead0 (see
// poolGeom.leaders0) is shared, read only.
func newMaxPoolOp(g *poolGeom, in, out *vbuf, kd kind, binary bool, lead0 []uint64) *maxPoolOp {
	return &maxPoolOp{g: g, in: in, out: out, kind: kd, binary: binary, lead0: lead0, lead: slices.Clone(lead0),
		count: make([]float32, len(in.data)), spiked: make([]uint64, (len(out.data)+63)/64)}
}

func (m *maxPoolOp) reset() {
	clear(m.count)
	copy(m.lead, m.lead0)
	clear(m.spiked)
	if m.kind == kindConst {
		m.g.windowMax(m.in.data, m.out.data)
		return
	}
	m.out.clearActive()
}

func (m *maxPoolOp) step() {
	if m.kind != kindSparse {
		return
	}
	m.out.clearActive()
	if m.g.one != nil {
		m.stepOne()
	} else {
		m.stepWindows()
	}
	m.emit()
}

// takeLead records, in window o, an input whose spike this step raised its
// rank key to key. Branch-free: whether a spike takes the lead is a coin
// toss to the branch predictor.
func takeLead(lead, spiked []uint64, o int32, key uint64) {
	l := lead[o]
	var b uint64
	if key >= l {
		b = 1
	}
	spiked[o>>6] |= b << (o & 63)
	lead[o] = max(l, key)
}

// countSpike adds input a's spike (its magnitude; 1 with data nil) to its
// count and returns the count.
func countSpike(count, data []float32, a int32) float32 {
	v := float32(1)
	if data != nil {
		v = float32(math.Abs(float64(data[a])))
	}
	c := count[a] + v
	count[a] = c
	return c
}

// spikeData is the pool's input values, or nil when its events are spikes.
func (m *maxPoolOp) spikeData() []float32 {
	if m.binary {
		return nil
	}
	return m.in.data
}

// stepOne: windows that do not overlap, one lookup per event.
func (m *maxPoolOp) stepOne() {
	poolMaxOne(m.in.act, m.spikeData(), m.g.one, m.count, m.lead, m.spiked)
}

// poolMaxOneGo is stepOne's loop (data nil: every event is a spike).
// poolMaxOne (add_*.go) may do it in assembly: the compiler spills this
// loop's state for every event.
func poolMaxOneGo(act []int32, data []float32, one []int32, count []float32, lead, spiked []uint64) {
	for _, a := range act {
		c := countSpike(count, data, a)
		if o := one[a]; o >= 0 {
			takeLead(lead, spiked, o, rank(c, a))
		}
	}
}

// stepWindows: every window that holds the event's pixel.
func (m *maxPoolOp) stepWindows() {
	g := m.g
	nc := g.c
	data := m.spikeData()
	for _, a := range m.in.act {
		key := rank(countSpike(m.count, data, a), a)
		i := int(a)
		pix := g.cdiv.div(i)
		c := i - pix*nc
		for _, op := range g.outs[pix] {
			takeLead(m.lead, m.spiked, int32(int(op)*nc+c), key)
		}
	}
}

// emit lists the windows whose leader fired this step, in ascending order,
// with the leader's spike, and clears their bits.
func (m *maxPoolOp) emit() {
	from := len(m.out.act)
	m.out.act = listBits(m.spiked, m.out.act)
	if m.out.dataless {
		return
	}
	for _, o := range m.out.act[from:] {
		v := float32(1)
		if !m.binary {
			v = m.in.data[leader(m.lead[o])]
		}
		m.out.data[o] = v
	}
}

// remapOp moves values to new positions: Flatten and Reshape across the
// channel-last layout, and Concat.
type remapOp struct {
	ins  []*vbuf
	bins []bool // input k is binary: a listed entry is 1
	maps [][]int32
	out  *vbuf
	kind kind
	counters
}

func (r *remapOp) full() {
	for k, in := range r.ins {
		m := r.maps[k]
		for i, v := range in.data {
			r.out.data[m[i]] = v
		}
	}
}

func (r *remapOp) reset() {
	if r.kind == kindConst {
		r.full()
	} else if r.kind == kindSparse {
		r.out.clearActive()
	}
}

func (r *remapOp) step() {
	switch r.kind {
	case kindSparse:
		r.out.clearActive()
		for k, in := range r.ins {
			m := r.maps[k]
			for _, a := range in.act {
				o := m[a]
				if r.bins[k] {
					r.out.data[o] = 1
				} else {
					r.out.data[o] = in.data[a]
				}
				r.out.act = append(r.out.act, o)
			}
		}
	case kindDense:
		r.full()
	}
}

// addOp is a residual merge: Σ scale_k · input_k; with sparse inputs the
// entries they reach are listed in ascending order.
type addOp struct {
	ins    []*vbuf
	scales []float32
	out    *vbuf
	kind   kind
	// reached has bit i set when an input event of this step reached entry
	// i; listBits lists and clears them.
	reached []uint64
	counters
}

func (a *addOp) full() {
	d := a.out.data
	clear(d)
	for k, in := range a.ins {
		addScaled(d, in.data[:len(d)], a.scales[k])
	}
	a.acs += int64(len(d) * len(a.ins))
}

func (a *addOp) reset() {
	if a.kind == kindConst {
		a.full()
	} else if a.kind == kindSparse {
		a.out.clearActive()
	}
}

func (a *addOp) step() {
	switch a.kind {
	case kindSparse:
		a.out.clearActive()
		out := a.out.data
		for k, in := range a.ins {
			s := a.scales[k]
			for _, i := range in.act {
				out[i] += s * in.data[i]
				a.reached[i>>6] |= 1 << (i & 63)
			}
			a.acs += int64(len(in.act))
		}
		a.out.act = listBits(a.reached, a.out.act)
	case kindDense:
		a.full()
	}
}

// affineOp is a per-channel scale and shift that could not be folded.
type affineOp struct {
	scale, bias []float32
	in, out     *vbuf
	kind        kind
	counters
}

func (a *affineOp) full() {
	for i, x := range a.in.data {
		y := a.scale[i] * x
		if a.bias != nil {
			y += a.bias[i]
		}
		a.out.data[i] = y
	}
	a.macs += int64(len(a.in.data))
}

func (a *affineOp) reset() {
	if a.kind == kindConst {
		a.full()
	} else if a.kind == kindSparse {
		a.out.clearActive()
	}
}

func (a *affineOp) step() {
	switch a.kind {
	case kindSparse:
		a.out.clearActive()
		for _, i := range a.in.act {
			a.out.data[i] = a.scale[i] * a.in.data[i]
			a.out.act = append(a.out.act, i)
		}
		a.macs += int64(len(a.in.act))
	case kindDense:
		a.full()
	}
}

// ifOp is a layer of integrate-and-fire neurons (DESIGN §2).
type ifOp struct {
	v      []float32 // membrane; the fused producer has already scattered into it
	th, v0 []float32
	zero   bool
	in     *vbuf
	inKind kind
	fused  bool
	cur    []float32 // current added to every neuron each step (bias or input); nil: none
	out    *vbuf
	counts []int32
	spikes int64
	// per: th and cur both repeat with this period (see period).
	per int
	// compact: the current is the same every step (an analog input's), so
	// the neurons it cannot make fire within the run are left out for the
	// whole sample (see compactLive): the others run in the dense arrays cv,
	// ccur and cth, whose entry j is neuron live[j].
	compact       bool
	live          []int32
	cv, ccur, cth []float32
	// horizon is the number of steps of the run (see worker.setHorizon).
	horizon float64
	// src, when the membrane takes no current but events (no bias): the
	// events that reach it, listed. quiet: every membrane is below θ, as
	// after a step without a spike (a neuron that did not fire is below θ);
	// quiet0: so is every v_init. A quiet layer that no event reaches
	// stays as it is, without a spike, so its update is skipped: a blank
	// input costs a bias-free network nearly nothing.
	src           *vbuf
	quiet, quiet0 bool
}

func (f *ifOp) stats() (int64, int64) { return 0, 0 }
func (f *ifOp) clearStats()           { f.spikes = 0 }

func (f *ifOp) reset() {
	if f.compact {
		f.compactLive()
	} else {
		copy(f.v, f.v0)
	}
	f.quiet = f.quiet0
	f.out.clearActive()
	clear(f.counts)
}

// compactLive keeps the neurons that can fire within the run under this
// sample's constant current I (see canFire). One with I <= 0 whose first
// update v0 + I stays below θ never fires: every later update adds I again,
// and a rounded sum with I <= 0 is never above the membrane it started from.
// One with a small I > 0 fires too late: its membrane cannot climb to θ
// within the run's steps. A membrane that is never read is not simulated at
// all: at T=32, on the first layers of the bundled models, that is 46–71 %
// of the neurons of a test digit (79 % on mlp), for one pass over the layer
// per sample.
//
// The live neurons are padded to a multiple of 16 with neurons that never
// fire (no current, θ = +Inf), so that the vector kernel does them all,
// unless that would make them more than the layer (whose spike list has
// room for its own size).
func (f *ifOp) compactLive() {
	n := len(f.v0)
	live, cv, ccur, cth := f.live[:n+8], f.cv[:n+8], f.ccur[:n+8], f.cth[:n+8]
	k := liveNeurons(f.in.data[:n], f.v0, f.th, live, cv, ccur, cth, f.horizon)
	k16 := (k + 15) &^ 15
	if k16 > n {
		k16 = k
	}
	clear(cv[k:k16])
	clear(ccur[k:k16])
	for j := k; j < k16; j++ {
		cth[j] = float32(math.Inf(1))
	}
	f.live, f.cv, f.ccur, f.cth = live[:k], cv[:k16], ccur[:k16], cth[:k16]
}

// stepCompact is step for the live neurons of a compact IF: the spikes
// come out in compacted indices, in order, and are mapped back.
func (f *ifOp) stepCompact(data []float32) {
	v, cur, th := f.cv, f.ccur, f.cth
	n := len(v)
	from := len(f.out.act)
	done, act := ifStep(v, cur, th, n&^7, nil, f.out.act, f.zero)
	act = ifTail(v, cur, th, done, f.zero, nil, act)
	spikes, live := act[from:], f.live
	for k, j := range spikes {
		spikes[k] = live[j]
	}
	if data != nil {
		for _, i := range spikes {
			data[i] = 1
		}
	}
	f.out.act = act
}

func (f *ifOp) step() {
	f.out.clearActive()
	if f.quiet && f.src != nil && len(f.src.act) == 0 {
		return
	}
	if !f.fused && f.inKind == kindSparse {
		for _, a := range f.in.act {
			f.v[a] += f.in.data[a]
		}
	}
	v, th := f.v, f.th[:len(f.v)]
	data := f.out.data[:len(v)]
	if f.out.dataless {
		data = nil
	}
	if f.compact {
		f.stepCompact(data)
		f.count()
		return
	}
	done, act := ifStep(v, f.cur, th, f.per, data, f.out.act, f.zero)
	var cur []float32
	if f.cur != nil {
		cur = f.cur[:len(v)]
	}
	act = ifTail(v, cur, th, done, f.zero, data, act)
	f.out.act = act
	f.quiet = len(act) == 0
	f.count()
}

// ifTail is the IF rule of DESIGN §2, one neuron at a time, for the neurons
// from on that the vector kernel left: v += cur (when there is one), then a
// spike and a reset where v >= θ, marked in data (when there is one) and
// appended to act.
func ifTail(v, cur, th []float32, from int, zero bool, data []float32, act []int32) []int32 {
	for i := from; i < len(v); i++ {
		x := v[i]
		if cur != nil {
			x += cur[i]
		}
		if x >= th[i] {
			if zero {
				x = 0
			} else {
				x -= th[i]
			}
			if data != nil {
				data[i] = 1
			}
			act = append(act, int32(i))
		}
		v[i] = x
	}
	return act
}

// count adds this step's spikes to the layer's and the recorded neurons'
// totals.
func (f *ifOp) count() {
	act := f.out.act
	f.spikes += int64(len(act))
	if f.counts != nil {
		for _, a := range act {
			f.counts[a]++
		}
	}
}

// readout integrates the output value: V_out[t] = V_out[t-1] + I_out[t].
type readout struct {
	v     []float32
	fused bool
	bias  []float32
	in    *vbuf
	kind  kind
}

func (r *readout) reset() { clear(r.v) }

func (r *readout) step() {
	switch {
	case r.fused:
		if r.bias != nil {
			addTo(r.v, r.bias)
		}
	case r.kind == kindSparse:
		for _, a := range r.in.act {
			r.v[a] += r.in.data[a]
		}
	default:
		addTo(r.v, r.in.data)
	}
}

func allZero(x []float32) bool {
	for _, v := range x {
		if v != 0 {
			return false
		}
	}
	return true
}
