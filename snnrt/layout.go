package snnrt

// Internal layout. Network shapes and every array the API exchanges are in
// logical row-major order ([C, H, W] for images). Inside a run, rank-3 values
// are held channel-last ([H][W][C]) so that a spike's fan-out over output
// channels is one contiguous row; all other ranks keep the logical order.

// toInternal returns perm with perm[logical] = internal index, or nil when
// the two orders coincide.
func toInternal(shape []int) []int32 {
	if len(shape) != 3 || shape[0] == 1 || shape[1]*shape[2] == 1 {
		return nil
	}
	c, hw := shape[0], shape[1]*shape[2]
	p := make([]int32, c*hw)
	for ci := range c {
		for s := range hw {
			p[ci*hw+s] = int32(s*c + ci)
		}
	}
	return p
}

// channelOf returns, for each internal index of a value of this shape, its
// channel (axis 0 of the logical shape).
func channelOf(shape []int) []int32 {
	n := numel(shape)
	ch := make([]int32, n)
	c := shape[0]
	if len(shape) == 3 {
		for i := range n {
			ch[i] = int32(i % c)
		}
		return ch
	}
	inner := n / c
	for i := range n {
		ch[i] = int32(i / inner)
	}
	return ch
}

// expandPerChannel spreads one value per channel (or a single value) over
// every internal index of a value of this shape.
func expandPerChannel(vals []float32, shape []int) []float32 {
	ch := channelOf(shape)
	out := make([]float32, len(ch))
	for i, c := range ch {
		if len(vals) == 1 {
			out[i] = vals[0]
		} else {
			out[i] = vals[c]
		}
	}
	return out
}

// remap returns, for each internal index of a value of shape from, the
// internal index of the same logical element in a value of shape to (Flatten,
// Reshape: both share the logical row-major order).
func remap(from, to []int) []int32 {
	pf, pt := toInternal(from), toInternal(to)
	n := numel(from)
	m := make([]int32, n)
	for l := range n {
		src, dst := l, l
		if pf != nil {
			src = int(pf[l])
		}
		if pt != nil {
			dst = int(pt[l])
		}
		m[src] = int32(dst)
	}
	return m
}

func isIdentity(m []int32) bool {
	for i, v := range m {
		if int(v) != i {
			return false
		}
	}
	return true
}

// concatMap maps input k's internal indices into the output's internal ones.
func concatMap(ins [][]int, k, axis int, out []int) []int32 {
	in := ins[k]
	off := 0
	for j := range k {
		off += ins[j][axis]
	}
	pin, pout := toInternal(in), toInternal(out)
	n := numel(in)
	m := make([]int32, n)
	// Strides of the logical layouts.
	inner := 1
	for a := axis + 1; a < len(in); a++ {
		inner *= in[a]
	}
	for l := range n {
		outer := l / (in[axis] * inner)
		a := (l / inner) % in[axis]
		r := l % inner
		lo := (outer*out[axis]+off+a)*inner + r
		src, dst := l, lo
		if pin != nil {
			src = int(pin[l])
		}
		if pout != nil {
			dst = int(pout[lo])
		}
		m[src] = int32(dst)
	}
	return m
}
