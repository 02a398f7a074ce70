package snnrt

import (
	"math/rand/v2"
)

// refSim is a deliberately naive simulator of DESIGN §2: logical layout,
// every layer dense every step, no fusion, no event lists. The runtime must
// match it bit for bit on networks whose arithmetic is exact (dyadic weights).
type refSim struct {
	net    *Network
	shapes map[string][]int
	// steady: values that are the same every step (analog input, before any
	// IF); a max pool of one takes its largest value.
	steady map[string]bool
}

type refOut struct {
	readout [][]float32        // [t-1][k]
	counts  map[string][]int32 // IF node -> per neuron (logical)
}

func (s *refSim) run(x []float32, T int, enc Encoding, seed uint64, idx int) refOut {
	net := s.net
	s.steady = map[string]bool{net.Input: enc == EncodingAnalog}
	for _, n := range net.Nodes {
		st := n.Op != OpIF
		for _, in := range n.Inputs {
			st = st && s.steady[in]
		}
		s.steady[n.Output] = st
	}
	V := map[string][]float32{}
	counts := map[string][]int32{}
	mpCount := map[string][]float32{}
	for _, n := range net.Nodes {
		if n.Op == OpIF {
			sz := numel(s.shapes[n.Output])
			V[n.Name] = make([]float32, sz)
			counts[n.Name] = make([]int32, sz)
			per := sz / n.Shape0(s.shapes)
			for i := range sz {
				V[n.Name][i] = n.VInit * n.th(i/per)
			}
		}
		if n.Op == OpSpikeMaxPool {
			mpCount[n.Name] = make([]float32, numel(s.shapes[n.Inputs[0]]))
		}
	}
	var m float32
	for _, v := range x {
		m = max(m, abs32(v))
	}
	acc := make([]float32, len(x))
	for i := range acc {
		acc[i] = 0.5
	}
	rng := newSampleRNG(seed, idx)
	vout := make([]float32, numel(s.shapes[net.Output]))
	out := refOut{counts: counts}
	for t := 1; t <= T; t++ {
		vals := map[string][]float32{}
		in := make([]float32, len(x))
		switch enc {
		case EncodingAnalog:
			copy(in, x)
		case EncodingRate, EncodingPoisson:
			for _, i := range pixelMajor(net.InputShape) {
				v := x[i]
				if v == 0 || m == 0 {
					continue
				}
				p := abs32(v) / m
				fire := false
				if enc == EncodingRate {
					acc[i] += p
					if acc[i] >= 1 {
						acc[i]--
						fire = true
					}
				} else {
					fire = rng.float32() < p
				}
				if fire {
					in[i] = m
					if v < 0 {
						in[i] = -m
					}
				}
			}
		}
		vals[net.Input] = in
		for _, n := range net.Nodes {
			vals[n.Output] = s.node(n, vals, V, counts, mpCount)
		}
		o := vals[net.Output]
		for k := range vout {
			vout[k] += o[k]
		}
		out.readout = append(out.readout, append([]float32(nil), vout...))
	}
	return out
}

func abs32(v float32) float32 {
	if v < 0 {
		return -v
	}
	return v
}

// Shape0 is the channel count of a node's output.
func (n *Node) Shape0(shapes map[string][]int) int { return shapes[n.Output][0] }

func (n *Node) th(c int) float32 {
	if len(n.Threshold) == 1 {
		return n.Threshold[0]
	}
	return n.Threshold[c]
}

func (s *refSim) node(n *Node, vals, V map[string][]float32, counts map[string][]int32, mpCount map[string][]float32) []float32 {
	x := vals[n.Inputs[0]]
	xs := s.shapes[n.Inputs[0]]
	os := s.shapes[n.Output]
	y := make([]float32, numel(os))
	switch n.Op {
	case OpConv:
		refConv(n, x, xs, y, os)
	case OpDense:
		in := xs[0]
		for o := range os[0] {
			var sum float32
			if n.B != nil {
				sum = n.B.Data[o]
			}
			for i := range in {
				sum += n.W.Data[o*in+i] * x[i]
			}
			y[o] = sum
		}
	case OpSumPool, OpSpikeMaxPool:
		g, _ := resolveGeom(n, n.Kernel[0], n.Kernel[1])
		C, H, W := xs[0], xs[1], xs[2]
		var cnt []float32
		switch {
		case n.Op == OpSpikeMaxPool && s.steady[n.Inputs[0]]:
			cnt = x
		case n.Op == OpSpikeMaxPool:
			cnt = mpCount[n.Name]
			for i, v := range x {
				cnt[i] += abs32(v)
			}
		}
		for c := range C {
			for oy := range os[1] {
				for ox := range os[2] {
					var sum float32
					best, bv := -1, float32(0)
					for ky := range g.kh {
						for kx := range g.kw {
							iy, ix := oy*g.sh-g.pt+ky, ox*g.sw-g.pl+kx
							if iy < 0 || iy >= H || ix < 0 || ix >= W {
								continue
							}
							i := (c*H+iy)*W + ix
							sum += x[i]
							if cnt != nil && (best < 0 || cnt[i] > bv) {
								best, bv = i, cnt[i]
							}
						}
					}
					o := (c*os[1]+oy)*os[2] + ox
					if n.Op == OpSumPool {
						y[o] = sum
					} else if best >= 0 {
						y[o] = x[best]
					}
				}
			}
		}
	case OpFlatten, OpReshape:
		copy(y, x)
	case OpConcat:
		inner := 1
		for a := n.Axis + 1; a < len(os); a++ {
			inner *= os[a]
		}
		off := 0
		for _, name := range n.Inputs {
			v, vs := vals[name], s.shapes[name]
			for l := range v {
				outer := l / (vs[n.Axis] * inner)
				a := (l / inner) % vs[n.Axis]
				y[(outer*os[n.Axis]+off+a)*inner+l%inner] = v[l]
			}
			off += vs[n.Axis]
		}
	case OpAdd:
		for k, name := range n.Inputs {
			sc := float32(1)
			if n.Scales != nil {
				sc = n.Scales[k]
			}
			for i, v := range vals[name] {
				y[i] += sc * v
			}
		}
	case OpAffine:
		per := len(y) / xs[0]
		for i := range y {
			y[i] = n.W.Data[i/per] * x[i]
			if n.B != nil {
				y[i] += n.B.Data[i/per]
			}
		}
	case OpIF:
		v := V[n.Name]
		per := len(y) / xs[0]
		for i := range y {
			v[i] += x[i]
			th := n.th(i / per)
			if v[i] >= th {
				y[i] = 1
				counts[n.Name][i]++
				if n.Reset == ResetZero {
					v[i] = 0
				} else {
					v[i] -= th
				}
			}
		}
	}
	return y
}

func refConv(n *Node, x []float32, xs []int, y []float32, os []int) {
	grp := max(n.Group, 1)
	O, cg, kh, kw := n.W.Shape[0], n.W.Shape[1], n.W.Shape[2], n.W.Shape[3]
	g, _ := resolveGeom(n, kh, kw)
	H, W := xs[1], xs[2]
	og := O / grp
	for o := range O {
		gi := o / og
		for oy := range os[1] {
			for ox := range os[2] {
				var sum float32
				if n.B != nil {
					sum = n.B.Data[o]
				}
				for ci := range cg {
					c := gi*cg + ci
					for ky := range kh {
						for kx := range kw {
							iy := oy*g.sh - g.pt + ky*g.dh
							ix := ox*g.sw - g.pl + kx*g.dw
							if iy < 0 || iy >= H || ix < 0 || ix >= W {
								continue
							}
							sum += n.W.Data[((o*cg+ci)*kh+ky)*kw+kx] * x[(c*H+iy)*W+ix]
						}
					}
				}
				y[(o*os[1]+oy)*os[2]+ox] = sum
			}
		}
	}
}

// dyadic returns a random multiple of 1/16 in [lo, hi]: products and sums of
// such numbers stay exact in float32 at the sizes the tests use, so event
// order cannot change a result.
func dyadic(r *rand.Rand, lo, hi float32) float32 {
	n := int(lo*16) + r.IntN(int((hi-lo)*16)+1)
	return float32(n) / 16
}

func dyadicTensor(r *rand.Rand, lo, hi float32, shape ...int) *Tensor {
	t := &Tensor{Shape: shape, Data: make([]float32, numel(shape))}
	for i := range t.Data {
		t.Data[i] = dyadic(r, lo, hi)
	}
	return t
}

// pixelMajor lists the logical indices of a value of this shape in the
// order the encoders visit them (and poisson draws its numbers): an image
// [C, H, W] pixel by pixel, each pixel's channels in turn; any other shape in
// logical order.
func pixelMajor(shape []int) []int {
	n := numel(shape)
	order := make([]int, 0, n)
	if len(shape) != 3 {
		for i := range n {
			order = append(order, i)
		}
		return order
	}
	c, hw := shape[0], shape[1]*shape[2]
	for p := range hw {
		for ch := range c {
			order = append(order, ch*hw+p)
		}
	}
	return order
}
