package snnrt

import "math"

// Event-driven synaptic kernels. Spatial values are held channel-last
// ([H][W][C], see layout.go) so that one input event scatters contiguous rows
// of output channels: the inner loop of every kernel is addTo over a weight row.

// addToGo adds src into dst[:len(src)]. Unrolled by four: Go does not
// vectorise, and the unrolled loop keeps one bounds check per four adds.
func addToGo(dst, src []float32) {
	dst = dst[:len(src)]
	i := 0
	for ; i+4 <= len(src); i += 4 {
		s := src[i : i+4 : i+4]
		d := dst[i : i+4 : i+4]
		d[0] += s[0]
		d[1] += s[1]
		d[2] += s[2]
		d[3] += s[3]
	}
	for ; i < len(src); i++ {
		dst[i] += src[i]
	}
}

// addScaledGo adds v·src into dst[:len(src)]. The conversions keep the
// product rounded on its own (the spec lets a compiler fuse x += v*s into one
// FMA, which the vector kernels do not do).
func addScaledGo(dst, src []float32, v float32) {
	dst = dst[:len(src)]
	i := 0
	for ; i+4 <= len(src); i += 4 {
		s := src[i : i+4 : i+4]
		d := dst[i : i+4 : i+4]
		d[0] += float32(v * s[0])
		d[1] += float32(v * s[1])
		d[2] += float32(v * s[2])
		d[3] += float32(v * s[3])
	}
	for ; i < len(src); i++ {
		dst[i] += float32(v * src[i])
	}
}

// addRowsGo adds w[o+i] into dst[i] for every offset o, in order: per
// element, the additions of one addTo per offset. A row narrower than a
// vector takes one pass over the offsets per element instead of a call per
// offset.
func addRowsGo(dst, w []float32, offs []int32) {
	if len(dst) < 8 {
		for i := range dst {
			x := dst[i]
			for _, o := range offs {
				x += w[int(o)+i]
			}
			dst[i] = x
		}
		return
	}
	for _, o := range offs {
		addToGo(dst, w[int(o):int(o)+len(dst)])
	}
}

// addRowsScaledGo is addRowsGo with row j scaled by vals[j].
func addRowsScaledGo(dst, w []float32, offs []int32, vals []float32) {
	if len(dst) < 8 {
		vals = vals[:len(offs)]
		for i := range dst {
			x := dst[i]
			for j, o := range offs {
				x += float32(vals[j] * w[int(o)+i])
			}
			dst[i] = x
		}
		return
	}
	for j, o := range offs {
		addScaledGo(dst, w[int(o):int(o)+len(dst)], vals[j])
	}
}

// divider divides non-negative indices by a fixed d with a multiply and a
// shift instead of a hardware division (tens of cycles, once per event).
// m = floor(2^42/d)+1 is exact for i·d < 2^42, which both bounds below
// guarantee; larger values fall back to plain division.
type divider struct {
	d int
	m uint64
}

func newDivider(d, limit int) divider {
	if d < 1<<21 && limit < 1<<21 {
		return divider{d: d, m: 1<<42/uint64(d) + 1}
	}
	return divider{d: d}
}

func (v divider) div(i int) int {
	if v.m != 0 {
		return int(uint64(i) * v.m >> 42)
	}
	return i / v.d
}

// period returns the smallest multiple of 8, at most 1024, that divides
// n&^7 and after which a repeats bit for bit over a[:n&^7] (a per-layer or
// per-channel constant in channel-last order), or n&^7 when none does.
func period(a []float32, n int) int {
	n8 := n &^ 7
	for p := 8; p <= 1024 && p < n8; p += 8 {
		if n8%p != 0 {
			continue
		}
		ok := true
		for i := p; i < n8 && ok; i++ {
			ok = math.Float32bits(a[i]) == math.Float32bits(a[i-p])
		}
		if ok {
			return p
		}
	}
	return n8
}

// addRunsGo is addRuns in Go: one addRowsMulti (or addRowsMultiScaled) per
// run.
func addRunsGo(dst, w []float32, rows, offs []int32, vals []float32, runs []int32) {
	for r := 0; r+5 <= len(runs); r += 5 {
		n, r0, r1, o0, o1 := int(runs[r]), runs[r+1], runs[r+2], runs[r+3], runs[r+4]
		if vals == nil {
			addRowsMulti(dst, w, n, rows[r0:r1], offs[o0:o1])
		} else {
			addRowsMultiScaled(dst, w, n, rows[r0:r1], offs[o0:o1], vals[o0:o1])
		}
	}
}

// roundSlack bounds, with room to spare for the float64 evaluation, the
// relative error of one float32 addition (2^-24).
const roundSlack = 0x1p-23

// canFire reports whether an IF neuron with membrane v0, threshold θ > 0 and
// the constant current c can reach θ within horizon steps. At the first step
// it does when v0 + c >= θ (in float32, as the step computes it). Otherwise
// it needs c > 0: before its first spike the membrane then rises from v0 and
// stays below θ, so each rounded step adds at most c + M·2^-24 with
// M = max(|v0|, θ) + c, and after t <= horizon steps it is at most
// v0 + horizon·(c + M·2^-24). When that bound is below θ the neuron never
// fires in the run. The float64 operations (rounded one at a time, no FMA)
// are the ones liveAVX2 does.
func canFire(c, v0, th float32, horizon float64) bool {
	if v0+c >= th {
		return true
	}
	if !(c > 0) {
		return false
	}
	cd, vd, td := float64(c), float64(v0), float64(th)
	m := max(math.Abs(vd), td) + cd
	x := float64(float64(float64(m*roundSlack)+cd)*horizon) + vd
	return x >= td
}

// liveGo keeps, from neuron from on, the neurons i that can fire within
// horizon steps under the constant current cur[i] (canFire; see
// ifOp.compactLive), writing i, v0[i], cur[i] and th[i] at entry k, k+1, …
// of live, cv, ccur and cth; it returns the new k. Every neuron is written,
// and kept (k advanced) only when it can fire.
func liveGo(cur, v0, th []float32, live []int32, cv, ccur, cth []float32, horizon float64, from, k int) int {
	v0, th = v0[:len(cur)], th[:len(cur)]
	for i := from; i < len(cur); i++ {
		c := cur[i]
		live[k], cv[k], ccur[k], cth[k] = int32(i), v0[i], c, th[i]
		if canFire(c, v0[i], th[i], horizon) {
			k++
		}
	}
	return k
}

// scratch is a synaptic op's per-worker space for one batch of rows.
type scratch struct {
	offs []int32
	vals []float32
	rows []int32 // (dst, weight) offset pairs of the rows one run reaches
	runs []int32 // a one-group conv's runs (see convKernel.scatterRuns)
	nz   []int32 // the non-zero entries of a real-valued input (all)
}

func newScratch(n int) *scratch {
	return &scratch{offs: make([]int32, 0, n), vals: make([]float32, 0, n), nz: make([]int32, 0, n)}
}

// synKernel scatters input events into an output accumulator and returns the
// number of weight additions done.
type synKernel interface {
	// spikes: every listed input is a 1.
	spikes(dst []float32, act []int32, sc *scratch) int64
	// events: listed inputs carry the values data[i].
	events(dst []float32, act []int32, data []float32, sc *scratch) int64
	// all: every non-zero entry of data (an analog input or current), in
	// ascending order, through the event kernels.
	all(dst []float32, data []float32, sc *scratch) int64
}

// denseKernel: W stored transposed, wt[i*out:(i+1)*out] is input i's fan-out.
type denseKernel struct {
	in, out int
	wt      []float32
}

// newDenseKernel transposes W; with perm, input i of the kernel is column
// perm[i] of W.
func newDenseKernel(w *Tensor, perm []int32) *denseKernel {
	out, in := w.Shape[0], w.Shape[1]
	wt := make([]float32, in*out)
	// In 32×32 tiles: a plain transpose strides through a whole row of wt
	// per element.
	const tile = 32
	for o0 := 0; o0 < out; o0 += tile {
		for i0 := 0; i0 < in; i0 += tile {
			for o := o0; o < min(o0+tile, out); o++ {
				for i := i0; i < min(i0+tile, in); i++ {
					j := i
					if perm != nil {
						j = int(perm[i])
					}
					wt[i*out+o] = w.Data[o*in+j]
				}
			}
		}
	}
	return &denseKernel{in: in, out: out, wt: wt}
}

// spikes adds the fan-out rows of all events in one pass over dst (kept in
// registers), in event order: per element the same additions as one addTo
// per event.
func (k *denseKernel) spikes(dst []float32, act []int32, sc *scratch) int64 {
	offs := sc.offs[:len(act)]
	for j, i := range act {
		offs[j] = i * int32(k.out)
	}
	addRows(dst[:k.out], k.wt, offs)
	return int64(len(act)) * int64(k.out)
}

func (k *denseKernel) events(dst []float32, act []int32, data []float32, sc *scratch) int64 {
	offs, vals := sc.offs[:len(act)], sc.vals[:len(act)]
	for j, i := range act {
		offs[j] = i * int32(k.out)
		vals[j] = data[i]
	}
	addRowsScaled(dst[:k.out], k.wt, offs, vals)
	return int64(len(act)) * int64(k.out)
}

func (k *denseKernel) all(dst []float32, data []float32, sc *scratch) int64 {
	return k.events(dst, nonZero(data[:k.in], sc), data, sc)
}

// nonZero lists the non-zero entries of data in sc.nz.
func nonZero(data []float32, sc *scratch) []int32 {
	nz := sc.nz[:0]
	for i, v := range data {
		if v != 0 {
			nz = append(nz, int32(i))
		}
	}
	sc.nz = nz
	return nz
}

// tap pairs a kernel offset with the output coordinate it reaches.
type tap struct{ k, o int32 }

// newTaps lists, for each input coordinate, the (kernel offset, output
// coordinate) pairs whose receptive field contains it. Precomputing them
// keeps borders, strides and dilation exact and out of the event loop.
func newTaps(in, k, stride, pad, dil, out int) [][]tap {
	t := make([][]tap, in)
	for y := range in {
		for ky := range k {
			num := y + pad - ky*dil
			if num < 0 || num%stride != 0 {
				continue
			}
			o := num / stride
			if o >= out {
				continue
			}
			t[y] = append(t[y], tap{k: int32(ky), o: int32(o)})
		}
	}
	return t
}

// convKernel scatters an input event at (y, x, c) into every output position
// whose window holds it, for the output channels of c's group.
type convKernel struct {
	c, w       int // input channels and width
	o, ow      int // output channels and width
	cg, og     int // channels per group, in and out
	kh, kw     int
	ws         []float32 // [C][KH][KW][Og]
	rows, cols [][]tap
	// With one group and unit stride and dilation along W, the outputs an
	// input reaches in one kernel row are adjacent, so with the kernel
	// flipped along W (wsf [C][KH][KW-1-kx][O]) one kernel row is a single
	// contiguous add of n·O floats: far fewer, longer inner loops.
	wsf   []float32
	spans []span // per input x
	// With one group, pixRows[pix[p].r0:pix[p].r1] are the (dst, weight)
	// offset pairs of the rows an event at input pixel p reaches, in wp
	// (wsf on the flipped path, else ws): built once, not per step.
	pixRows []int32
	pix     []pixRun
	wp      []float32
	// cdiv divides an internal index by c (its pixel), ydiv a pixel by w.
	cdiv, ydiv divider
}

// pixRun is what an event at one input pixel reaches: the rows
// pixRows[r0:r1] of n floats each, adds = n·(r1-r0)/2 weights in all. Its
// first three fields are a run's first three (see addRuns).
type pixRun struct{ n, r0, r1, adds int32 }

// span is the run of kernel columns an input column reaches: n columns,
// starting at flipped column f0 and output column o0.
type span struct{ f0, o0, n int32 }

func newConvKernel(n *Node, in []int, out []int) *convKernel {
	grp := n.Group
	if grp == 0 {
		grp = 1
	}
	o, cg, kh, kw := n.W.Shape[0], n.W.Shape[1], n.W.Shape[2], n.W.Shape[3]
	g, _ := resolveGeom(n, kh, kw) // validated by inferShapes
	c := in[0]
	og := o / grp
	k := &convKernel{c: c, w: in[2], o: o, ow: out[2], cg: cg, og: og, kh: kh, kw: kw,
		cdiv: newDivider(c, numel(in)), ydiv: newDivider(in[2], in[1]*in[2])}
	k.ws = make([]float32, c*kh*kw*og)
	for ci := range c {
		gi := ci / cg
		for ky := range kh {
			for kx := range kw {
				for oo := range og {
					src := (((gi*og+oo)*cg+ci%cg)*kh+ky)*kw + kx
					k.ws[((ci*kh+ky)*kw+kx)*og+oo] = n.W.Data[src]
				}
			}
		}
	}
	k.rows = newTaps(in[1], kh, g.sh, g.pt, g.dh, out[1])
	k.cols = newTaps(in[2], kw, g.sw, g.pl, g.dw, out[2])
	if grp == 1 && g.sw == 1 && g.dw == 1 {
		k.wsf = make([]float32, len(k.ws))
		for ci := range c {
			for ky := range kh {
				for kx := range kw {
					src := ((ci*kh+ky)*kw + kx) * og
					dst := ((ci*kh+ky)*kw + kw - 1 - kx) * og
					copy(k.wsf[dst:dst+og], k.ws[src:src+og])
				}
			}
		}
		k.spans = make([]span, in[2])
		for x, taps := range k.cols {
			if len(taps) == 0 {
				continue
			}
			hi := taps[len(taps)-1] // taps are in increasing kx, so decreasing ox
			k.spans[x] = span{f0: int32(kw - 1 - int(hi.k)), o0: hi.o, n: int32(len(taps))}
		}
		k.wp = k.wsf
	}
	if grp == 1 {
		if k.wp == nil {
			k.wp = k.ws
		}
		k.pix = make([]pixRun, in[1]*in[2])
		for y := range in[1] {
			for x := range in[2] {
				r0, n := len(k.pixRows), k.og
				if k.spans != nil {
					sp := k.spans[x]
					f0 := int(sp.f0) * k.o
					n = int(sp.n) * k.o
					for _, r := range k.rows[y] {
						k.pixRows = append(k.pixRows, int32((int(r.o)*k.ow+int(sp.o0))*k.o), int32(f0+int(r.k)*k.kw*k.o))
					}
				} else {
					for _, r := range k.rows[y] {
						rowOut, wr := int(r.o)*k.ow, int(r.k)*k.kw*k.og
						for _, q := range k.cols[x] {
							k.pixRows = append(k.pixRows, int32((rowOut+int(q.o))*k.o), int32(wr+int(q.k)*k.og))
						}
					}
				}
				r1 := len(k.pixRows)
				k.pix[y*in[2]+x] = pixRun{n: int32(n), r0: int32(r0), r1: int32(r1), adds: int32((r1 - r0) / 2 * n)}
			}
		}
	}
	return k
}

// group scatters a run of events that share one input pixel p (and, with
// groups, one channel group): they reach the same output rows, so each row
// gets all their weight rows in one addRows, in event order. vals == nil:
// binary events.
func (k *convKernel) group(dst []float32, p int, offs []int32, vals []float32, c0 int, sc *scratch) int64 {
	var rows []int32
	var n int
	var w []float32
	if k.pix != nil {
		pr := k.pix[p]
		rows = k.pixRows[pr.r0:pr.r1]
		n = int(pr.n)
		w = k.wp
	} else {
		y := k.ydiv.div(p)
		x := p - y*k.w
		rs := k.rows[y]
		rows = sc.rows[:0]
		n = k.og
		gOff := (c0 / k.cg) * k.og
		cs := k.cols[x]
		for _, r := range rs {
			rowOut := int(r.o) * k.ow
			wr := int(r.k) * k.kw * k.og
			for _, q := range cs {
				rows = append(rows, int32((rowOut+int(q.o))*k.o+gOff), int32(wr+int(q.k)*k.og))
			}
		}
		w = k.ws
		sc.rows = rows
	}
	if vals == nil {
		addRowsMulti(dst, w, n, rows, offs)
	} else {
		addRowsMultiScaled(dst, w, n, rows, offs, vals)
	}
	return int64(len(offs)*len(rows)/2) * int64(n)
}

// runsPerCall bounds the runs scatterRuns hands to the vector kernel at once
// (and so its scratch).
const runsPerCall = 256

// newScratch is a scratch for n inputs with room for the rows of one pixel
// and, with one group (pix), for perCall runs: a step's events then go to the
// vector kernel as one list of runs (scatterRuns).
func (k *convKernel) newScratch(n, perCall int) *scratch {
	sc := newScratch(n)
	sc.rows = make([]int32, 0, 2*k.kh*k.kw)
	if k.pix != nil {
		sc.runs = make([]int32, 0, 5*perCall)
	}
	return sc
}

// gather puts the events act[j:] that lie in [lo, hi) (a run at one pixel)
// into offs from entry m on, as weight offsets (a-base)·stride, and with
// vals their values data[a]; it returns where the run ends in act and offs.
func gather(act []int32, j int, lo, hi, base, stride int32, data []float32, offs []int32, vals []float32, m int) (int, int) {
	for ; j < len(act); j++ {
		a := act[j]
		if a < lo || a >= hi {
			break
		}
		offs[m] = (a - base) * stride
		if vals != nil {
			vals[m] = data[a]
		}
		m++
	}
	return j, m
}

// scatterRuns is scatter for one group: the runs of events at one pixel are
// listed (row pairs by their place in pixRows) and added by one kernel call
// per runsPerCall runs, in order, rather than one call per run. Every event
// gets its own entry of offs (and vals), so a run's entries are the events'
// own places in act.
func (k *convKernel) scatterRuns(dst []float32, act []int32, data []float32, sc *scratch) int64 {
	offs := sc.offs[:len(act)]
	var vals []float32
	if data != nil {
		vals = sc.vals[:len(act)]
		for j, a := range act {
			vals[j] = data[a]
		}
	}
	runs := sc.runs[:cap(sc.runs)]
	var adds int64
	for j := 0; j < len(act); {
		var r int
		var n int64
		j, r, n = findRuns(k, act, j, offs, runs)
		adds += n
		addRuns(dst, k.wp, k.pixRows, offs, vals, runs[:r])
	}
	return adds
}

// findRunsGo fills runs with the runs of act from j on, as many as runs
// holds (5 int32 each: see addRuns), and offs with their events' weight
// offsets (offs as long as act). It returns where it stopped, how much of runs
// it filled and the runs' adds. findRuns (add_*.go) may do it in assembly:
// the compiler keeps too little of this loop's state in registers.
func (k *convKernel) findRunsGo(act []int32, j int, offs, runs []int32) (int, int, int64) {
	stride := int32(k.kh * k.kw * k.og)
	c := int32(k.c)
	offs = offs[:len(act)]
	var adds int64
	r := 0
	for ; j < len(act) && r+5 <= len(runs); r += 5 {
		j0 := j
		a := act[j]
		p := k.cdiv.div(int(a))
		lo := int32(p) * c
		offs[j] = (a - lo) * stride
		// act need not ascend (a Concat or a layout change lists events in
		// its inputs' order, which the channel-last layout interleaves): a
		// run ends at the first event off the pixel, one whose channel
		// act[j]-lo is outside [0, c).
		for j++; j < len(act); j++ {
			ch := act[j] - lo
			if uint32(ch) >= uint32(c) {
				break
			}
			offs[j] = ch * stride
		}
		pr := &k.pix[p]
		run := (*[5]int32)(runs[r:])
		run[0], run[1], run[2], run[3], run[4] = pr.n, pr.r0, pr.r1, int32(j0), int32(j)
		adds += int64(j-j0) * int64(pr.adds)
	}
	return j, r, adds
}

// scatter splits act into runs of events at one pixel (and channel group)
// and hands each run to group; the order of events is kept.
func (k *convKernel) scatter(dst []float32, act []int32, data []float32, sc *scratch) int64 {
	if sc.runs != nil {
		return k.scatterRuns(dst, act, data, sc)
	}
	var n int64
	stride := int32(k.kh * k.kw * k.og)
	offs := sc.offs[:cap(sc.offs)]
	var vals []float32
	if data != nil {
		vals = sc.vals[:cap(sc.vals)]
	}
	for j := 0; j < len(act); {
		i := int(act[j])
		p := k.cdiv.div(i)
		lo := int32(p * k.c)
		c0 := i - int(lo)
		base := lo
		if k.cg != k.c {
			lo += int32(c0 / k.cg * k.cg)
		}
		hi := lo + int32(k.cg)
		var m int
		j, m = gather(act, j, lo, hi, base, stride, data, offs, vals, 0)
		var v []float32
		if vals != nil {
			v = vals[:m]
		}
		n += k.group(dst, p, offs[:m], v, c0, sc)
	}
	return n
}

func (k *convKernel) spikes(dst []float32, act []int32, sc *scratch) int64 {
	return k.scatter(dst, act, nil, sc)
}

func (k *convKernel) events(dst []float32, act []int32, data []float32, sc *scratch) int64 {
	return k.scatter(dst, act, data, sc)
}

func (k *convKernel) all(dst []float32, data []float32, sc *scratch) int64 {
	return k.events(dst, nonZero(data, sc), data, sc)
}

// poolGeom maps an input pixel to the pooling windows that contain it and a
// window to its input pixels; pads are outside every window (they add nothing
// to a sum and never win a max). Channels map to themselves.
type poolGeom struct {
	c int
	// outs[p]: output pixels whose window holds input pixel p, window rows
	// outer, columns inner.
	outs [][]int32
	// win[q]: input pixels of output pixel q's window, in ascending order.
	win [][]int32
	// winOff[winAt[q]:winAt[q+1]]: win[q]'s pixels as offsets of their
	// first channel (pixel·c), in one array for the window-max kernel.
	winAt, winOff []int32
	// one[i], when no input pixel is in two windows (stride ≥ kernel, the
	// usual pool): the output element input element i reaches, or -1 for
	// none; the pools' event loops then take one lookup per event.
	one []int32
	// cdiv splits an input index into pixel and channel, odiv an output one.
	cdiv, odiv divider
}

func newPoolGeom(n *Node, in, out []int) *poolGeom {
	g, _ := resolveGeom(n, n.Kernel[0], n.Kernel[1])
	c, h, w, oh, ow := in[0], in[1], in[2], out[1], out[2]
	rows := newTaps(h, g.kh, g.sh, g.pt, 1, oh)
	cols := newTaps(w, g.kw, g.sw, g.pl, 1, ow)
	pg := &poolGeom{c: c, outs: make([][]int32, h*w), win: make([][]int32, oh*ow),
		cdiv: newDivider(c, numel(in)), odiv: newDivider(c, numel(out))}
	for y := range h {
		for x := range w {
			for _, r := range rows[y] {
				for _, q := range cols[x] {
					op := int(r.o)*ow + int(q.o)
					pg.outs[y*w+x] = append(pg.outs[y*w+x], int32(op))
					pg.win[op] = append(pg.win[op], int32(y*w+x))
				}
			}
		}
	}
	pg.winAt = make([]int32, 0, len(pg.win)+1)
	for _, w := range pg.win {
		pg.winAt = append(pg.winAt, int32(len(pg.winOff)))
		for _, p := range w {
			pg.winOff = append(pg.winOff, p*int32(c))
		}
	}
	pg.winAt = append(pg.winAt, int32(len(pg.winOff)))
	for _, o := range pg.outs {
		if len(o) > 1 {
			return pg
		}
	}
	pg.one = make([]int32, h*w*c)
	for p, o := range pg.outs {
		for ch := range c {
			pg.one[p*c+ch] = -1
			if len(o) == 1 {
				pg.one[p*c+ch] = o[0]*int32(c) + int32(ch)
			}
		}
	}
	return pg
}
