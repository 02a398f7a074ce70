package snnrt

// encoder turns one preprocessed image into the input value s_0[t] (DESIGN §2).
//
// rate and poisson spike with probability (or regular rate) |x|/max|x| and
// each event carries sign(x)·max|x|, so the expected input over time equals x
// and the thresholds calibrated on analog inputs stay valid. Both visit an
// image [C, H, W] pixel by pixel, a pixel's channels in turn (the runtime's
// channel-last order), and poisson draws one number per non-zero entry and
// step in that order.
type encoder struct {
	mode Encoding
	perm []int32 // logical index -> internal (nil: the same)
	// from: internal index -> logical, for rate and poisson, which list an
	// image's events in internal order: a pixel's channels then reach the
	// first layer as one run (see scatterRuns), 1.2–1.3× faster on a
	// 3-channel CIFAR-10 model than one run per channel.
	from []int32
	buf  *vbuf
	nz   []int32   // internal indices of non-zero pixels
	p    []float32 // per non-zero pixel: rate |x|/max|x|
	val  []float32 // per non-zero pixel: the event value
	acc  []float32
	rng  splitMix
}

func newEncoder(mode Encoding, n int, perm []int32, buf *vbuf) *encoder {
	e := &encoder{mode: mode, perm: perm, buf: buf}
	if mode != EncodingAnalog {
		e.nz = make([]int32, 0, n)
		e.p = make([]float32, 0, n)
		e.val = make([]float32, 0, n)
		e.acc = make([]float32, 0, n)
		if perm != nil {
			e.from = make([]int32, n)
			for l, i := range perm {
				e.from[i] = int32(l)
			}
		}
	}
	return e
}

// load prepares sample index (global, for the poisson seed) with image x in
// logical order.
func (e *encoder) load(x []float32, seed uint64, index int) {
	if e.mode == EncodingAnalog {
		if e.perm == nil {
			copy(e.buf.data, x)
		} else {
			for l, v := range x {
				e.buf.data[e.perm[l]] = v
			}
		}
		return
	}
	e.buf.clearActive()
	var m float32
	for _, v := range x {
		if v < 0 {
			v = -v
		}
		m = max(m, v)
	}
	e.nz, e.p, e.val, e.acc = e.nz[:0], e.p[:0], e.val[:0], e.acc[:0]
	if m > 0 {
		for i := range x {
			v := x[i]
			if e.from != nil {
				v = x[e.from[i]]
			}
			if v == 0 {
				continue
			}
			a, s := v, m
			if v < 0 {
				a, s = -v, -m
			}
			e.nz = append(e.nz, int32(i))
			e.p = append(e.p, a/m)
			e.val = append(e.val, s)
			// A regular train with phase 1/2 spikes floor(t·p + 1/2) times
			// in t steps: the rate twin of v_init = θ/2.
			e.acc = append(e.acc, 0.5)
		}
	}
	e.rng = newSampleRNG(seed, index)
}

func (e *encoder) step() {
	if e.mode == EncodingAnalog {
		return
	}
	e.buf.clearActive()
	d := e.buf.data
	act := e.buf.act
	switch e.mode {
	case EncodingRate:
		for j, i := range e.nz {
			a := e.acc[j] + e.p[j]
			if a >= 1 {
				a--
				d[i] = e.val[j]
				act = append(act, i)
			}
			e.acc[j] = a
		}
	case EncodingPoisson:
		for j, i := range e.nz {
			if e.rng.float32() < e.p[j] {
				d[i] = e.val[j]
				act = append(act, i)
			}
		}
	}
	e.buf.act = act
}

// splitMix is SplitMix64: tiny, fast, and good enough for Bernoulli input
// spikes. Each sample gets its own stream derived from (seed, global sample
// index), so spikes do not depend on workers or batch boundaries.
type splitMix struct{ s uint64 }

func mix64(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

func newSampleRNG(seed uint64, index int) splitMix {
	return splitMix{s: mix64(seed^0x5851f42d4c957f2d) ^ mix64(uint64(index)+0x9e3779b97f4a7c15)}
}

func (r *splitMix) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	return mix64(r.s)
}

// float32 returns a uniform value in [0, 1) with 24 random bits.
func (r *splitMix) float32() float32 {
	return float32(r.next()>>40) * (1.0 / (1 << 24))
}
