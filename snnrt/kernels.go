package snnrt

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

// addScaledGo adds v·src into dst[:len(src)].
func addScaledGo(dst, src []float32, v float32) {
	dst = dst[:len(src)]
	i := 0
	for ; i+4 <= len(src); i += 4 {
		s := src[i : i+4 : i+4]
		d := dst[i : i+4 : i+4]
		d[0] += v * s[0]
		d[1] += v * s[1]
		d[2] += v * s[2]
		d[3] += v * s[3]
	}
	for ; i < len(src); i++ {
		dst[i] += v * src[i]
	}
}

// synKernel scatters input events into an output accumulator and returns the
// number of weight additions done.
type synKernel interface {
	// spikes: every listed input is a 1.
	spikes(dst []float32, act []int32) int64
	// events: listed inputs carry the values data[i].
	events(dst []float32, act []int32, data []float32) int64
	// all: every non-zero entry of data (an analog input or current).
	all(dst []float32, data []float32) int64
}

// denseKernel: W stored transposed, wt[i*out:(i+1)*out] is input i's fan-out.
type denseKernel struct {
	in, out int
	wt      []float32
}

func newDenseKernel(w *Tensor) *denseKernel {
	out, in := w.Shape[0], w.Shape[1]
	wt := make([]float32, in*out)
	for o := range out {
		for i := range in {
			wt[i*out+o] = w.Data[o*in+i]
		}
	}
	return &denseKernel{in: in, out: out, wt: wt}
}

func (k *denseKernel) spikes(dst []float32, act []int32) int64 {
	dst = dst[:k.out]
	for _, i := range act {
		o := int(i) * k.out
		addTo(dst, k.wt[o:o+k.out])
	}
	return int64(len(act)) * int64(k.out)
}

func (k *denseKernel) events(dst []float32, act []int32, data []float32) int64 {
	dst = dst[:k.out]
	for _, i := range act {
		o := int(i) * k.out
		addScaled(dst, k.wt[o:o+k.out], data[i])
	}
	return int64(len(act)) * int64(k.out)
}

func (k *denseKernel) all(dst []float32, data []float32) int64 {
	var n int64
	for i, v := range data[:k.in] {
		if v != 0 {
			o := i * k.out
			addScaled(dst[:k.out], k.wt[o:o+k.out], v)
			n += int64(k.out)
		}
	}
	return n
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
}

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
	k := &convKernel{c: c, w: in[2], o: o, ow: out[2], cg: cg, og: og, kh: kh, kw: kw}
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
	}
	return k
}

// one scatters v·(weights) for the event at internal index i; v == 1 takes
// the multiply-free path.
func (k *convKernel) one(dst []float32, i int, v float32, binary bool) int64 {
	c := i % k.c
	p := i / k.c
	y := p / k.w
	x := p - y*k.w
	if k.spans != nil {
		sp := k.spans[x]
		n := int(sp.n) * k.o
		rs := k.rows[y]
		wc := (c*k.kh*k.kw + int(sp.f0)) * k.o
		for _, r := range rs {
			base := (int(r.o)*k.ow + int(sp.o0)) * k.o
			wo := wc + int(r.k)*k.kw*k.o
			if binary {
				addTo(dst[base:base+n], k.wsf[wo:wo+n])
			} else {
				addScaled(dst[base:base+n], k.wsf[wo:wo+n], v)
			}
		}
		return int64(len(rs) * n)
	}
	gOff := (c / k.cg) * k.og
	rs, cs := k.rows[y], k.cols[x]
	wc := c * k.kh * k.kw * k.og
	for _, r := range rs {
		rowOut := int(r.o) * k.ow
		wr := wc + int(r.k)*k.kw*k.og
		for _, q := range cs {
			base := (rowOut+int(q.o))*k.o + gOff
			wo := wr + int(q.k)*k.og
			w := k.ws[wo : wo+k.og]
			if binary {
				addTo(dst[base:base+k.og], w)
			} else {
				addScaled(dst[base:base+k.og], w, v)
			}
		}
	}
	return int64(len(rs)*len(cs)) * int64(k.og)
}

func (k *convKernel) spikes(dst []float32, act []int32) int64 {
	var n int64
	for _, i := range act {
		n += k.one(dst, int(i), 1, true)
	}
	return n
}

func (k *convKernel) events(dst []float32, act []int32, data []float32) int64 {
	var n int64
	for _, i := range act {
		n += k.one(dst, int(i), data[i], false)
	}
	return n
}

func (k *convKernel) all(dst []float32, data []float32) int64 {
	var n int64
	for i, v := range data {
		if v != 0 {
			n += k.one(dst, i, v, false)
		}
	}
	return n
}

// poolGeom maps an input position to the pooling windows that contain it and
// a window to its inputs; pads are outside every window (they add nothing to
// a sum and never win a max).
type poolGeom struct {
	c, h, w    int
	oh, ow     int
	kh, kw     int
	sh, sw     int
	pt, pl     int
	rows, cols [][]tap
}

func newPoolGeom(n *Node, in, out []int) *poolGeom {
	g, _ := resolveGeom(n, n.Kernel[0], n.Kernel[1])
	return &poolGeom{
		c: in[0], h: in[1], w: in[2], oh: out[1], ow: out[2],
		kh: g.kh, kw: g.kw, sh: g.sh, sw: g.sw, pt: g.pt, pl: g.pl,
		rows: newTaps(in[1], g.kh, g.sh, g.pt, 1, out[1]),
		cols: newTaps(in[2], g.kw, g.sw, g.pl, 1, out[2]),
	}
}
