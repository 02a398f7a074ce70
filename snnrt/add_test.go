package snnrt

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestAddKernels: the dispatching addTo/addScaled (assembly on amd64 with
// AVX2) equal the Go loops bit for bit at every length and alignment.
func TestAddKernels(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 8))
	for n := range 75 {
		for off := range 3 {
			src := make([]float32, n+off)
			dst := make([]float32, n+off+2)
			for i := range src {
				src[i] = r.Float32()*2 - 1
			}
			for i := range dst {
				dst[i] = r.Float32()*2 - 1
			}
			v := r.Float32()*3 - 1.5
			a, b := slices.Clone(dst), slices.Clone(dst)
			addTo(a[off:], src[off:])
			addToGo(b[off:], src[off:])
			if !slices.Equal(a, b) {
				t.Fatalf("addTo n=%d off=%d differs from the Go loop", n, off)
			}
			a, b = slices.Clone(dst), slices.Clone(dst)
			addScaled(a[off:], src[off:], v)
			addScaledGo(b[off:], src[off:], v)
			if !slices.Equal(a, b) {
				t.Fatalf("addScaled n=%d off=%d differs from the Go loop", n, off)
			}
		}
	}
}

// TestAddRowsKernels: addRows, addRowsScaled and addRowsMulti equal one
// addToGo / addScaledGo per row, in order, bit for bit, at every length.
func TestAddRowsKernels(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 9))
	for n := range 140 {
		for rows := range 4 {
			w := make([]float32, 6*n+40)
			for i := range w {
				w[i] = r.Float32()*2 - 1
			}
			offs := make([]int32, rows)
			vals := make([]float32, rows)
			for j := range offs {
				offs[j] = int32(r.IntN(3*n + 40))
				vals[j] = float32(r.IntN(4)+1) * (r.Float32() + 0.5)
			}
			dst := make([]float32, 2*n+3)
			for i := range dst {
				dst[i] = r.Float32()*2 - 1
			}
			a, b := slices.Clone(dst), slices.Clone(dst)
			addRows(a[1:n+1], w, offs)
			for _, o := range offs {
				addToGo(b[1:n+1], w[o:int(o)+n])
			}
			if !slices.Equal(a, b) {
				t.Fatalf("addRows n=%d rows=%d differs from addTo per row", n, rows)
			}
			a, b = slices.Clone(dst), slices.Clone(dst)
			addRowsScaled(a[1:n+1], w, offs, vals)
			for j, o := range offs {
				addScaledGo(b[1:n+1], w[o:int(o)+n], vals[j])
			}
			if !slices.Equal(a, b) {
				t.Fatalf("addRowsScaled n=%d rows=%d differs from addScaled per row", n, rows)
			}
			pairs := []int32{int32(n + 2), 0, 1, int32(n)}
			a, b = slices.Clone(dst), slices.Clone(dst)
			addRowsMultiScaled(a, w, n, pairs, offs, vals)
			addRowsMulti(a, w, n, pairs[:2], offs)
			for p := 0; p < len(pairs); p += 2 {
				d := b[pairs[p] : int(pairs[p])+n]
				for j, o := range offs {
					addScaledGo(d, w[int(o)+int(pairs[p+1]):int(o)+int(pairs[p+1])+n], vals[j])
				}
			}
			for _, o := range offs {
				addToGo(b[n+2:2*n+2], w[o:int(o)+n])
			}
			if !slices.Equal(a, b) {
				t.Fatalf("addRowsMulti n=%d rows=%d differs from addRows per row pair", n, rows)
			}
		}
	}
}

// TestAddRunsKernel: a list of runs (overlapping outputs, shared and
// disjoint offsets, empty runs, any row length) added by one
// addRuns call equals one addRowsMulti(Scaled) per run, in order, bit for
// bit, with and without the vector kernels.
func TestAddRunsKernel(t *testing.T) {
	r := rand.New(rand.NewPCG(10, 11))
	w := make([]float32, 4000)
	for i := range w {
		w[i] = r.Float32()*2 - 1
	}
	dst := make([]float32, 600)
	for i := range dst {
		dst[i] = r.Float32()*2 - 1
	}
	var rows, offs, runs []int32
	var vals []float32
	for i := range 60 {
		// Any length: the last n%8 floats take the masked block; a row may
		// end at the end of dst.
		n := r.IntN(100) + 1
		r0, o0 := len(rows), len(offs)
		for range r.IntN(4) {
			rows = append(rows, int32(r.IntN(len(dst)-n+1)), int32(r.IntN(1000)))
		}
		if i%7 == 0 {
			rows = append(rows, int32(len(dst)-n), int32(r.IntN(1000)))
		}
		for range r.IntN(4) {
			offs = append(offs, int32(r.IntN(2000)))
			vals = append(vals, float32(r.IntN(4)+1)*(r.Float32()+0.5))
		}
		runs = append(runs, int32(n), int32(r0), int32(len(rows)), int32(o0), int32(len(offs)))
	}
	defer func(v bool) { useAVX2 = v }(useAVX2)
	for _, vector := range []bool{false, useAVX2} {
		useAVX2 = vector
		for _, scaled := range []bool{false, true} {
			v := vals
			if !scaled {
				v = nil
			}
			a, b := slices.Clone(dst), slices.Clone(dst)
			addRuns(a, w, rows, offs, v, runs)
			for k := 0; k < len(runs); k += 5 {
				n, r0, r1, o0, o1 := int(runs[k]), runs[k+1], runs[k+2], runs[k+3], runs[k+4]
				for p := r0; p < r1; p += 2 {
					d := b[rows[p] : int(rows[p])+n]
					for j := o0; j < o1; j++ {
						u := w[int(offs[j])+int(rows[p+1]):][:n]
						if scaled {
							addScaledGo(d, u, vals[j])
						} else {
							addToGo(d, u)
						}
					}
				}
			}
			if !slices.Equal(a, b) {
				t.Fatalf("vector=%v scaled=%v: addRuns differs from one row at a time", vector, scaled)
			}
		}
	}
}

// TestFindRuns: the dispatching findRuns (assembly on amd64) lists the same
// runs, offsets and adds as the Go loop, and stops at the same place, for
// event lists that ascend and ones that interleave pixels (a Concat's),
// whatever the room for runs.
func TestFindRuns(t *testing.T) {
	r := rand.New(rand.NewPCG(12, 13))
	for _, tc := range []struct{ c, h, w, o, stride int }{
		{3, 8, 7, 4, 1}, {5, 7, 8, 8, 2}, {16, 6, 6, 16, 1}, {1, 9, 9, 6, 1},
	} {
		n := &Node{Name: "c", Op: OpConv, Inputs: []string{"x"}, Output: "y",
			W: dyadicTensor(r, -1, 1, tc.o, tc.c, 3, 3), Group: 1,
			Strides: []int{tc.stride, tc.stride}, Pads: []int{1, 1, 1, 1}}
		xs := []int{tc.c, tc.h, tc.w}
		os, err := nodeShape(n, map[string][]int{"x": xs})
		if err != nil {
			t.Fatal(err)
		}
		k := newConvKernel(n, xs, os)
		if k.pix == nil || k.cdiv.m == 0 {
			t.Fatalf("%+v: no one-group runs to test", tc)
		}
		for trial := range 40 {
			var act []int32
			for i := range numel(xs) {
				if r.IntN(3) == 0 {
					act = append(act, int32(i))
				}
			}
			if trial%2 == 1 {
				// Channel after channel, the order a Concat of
				// single-channel inputs would list in.
				slices.SortStableFunc(act, func(a, b int32) int { return int(a%int32(tc.c)) - int(b%int32(tc.c)) })
			}
			for _, room := range []int{1, 2, 7, runsPerCall} {
				offsA, offsB := make([]int32, len(act)), make([]int32, len(act))
				runsA, runsB := make([]int32, 5*room), make([]int32, 5*room)
				for ja, jb := 0, 0; ja < len(act) || jb < len(act); {
					var ra, rb int
					var aa, ab int64
					ja, ra, aa = findRuns(k, act, ja, offsA, runsA)
					jb, rb, ab = k.findRunsGo(act, jb, offsB, runsB)
					if ja != jb || ra != rb || aa != ab || !slices.Equal(runsA[:ra], runsB[:rb]) {
						t.Fatalf("%+v trial %d room %d: findRuns stops at %d with %d run ints and %d adds, the Go loop at %d, %d, %d",
							tc, trial, room, ja, ra, aa, jb, rb, ab)
					}
					if ra == 0 {
						t.Fatalf("%+v: no progress at event %d", tc, ja)
					}
				}
				if !slices.Equal(offsA, offsB) {
					t.Fatalf("%+v trial %d room %d: offsets differ", tc, trial, room)
				}
			}
		}
	}
}

// poolWindows maps nin pool inputs to nout windows at random, one in eight
// to none (-1), for the pool loop tests.
func poolWindows(r *rand.Rand, nin, nout int) []int32 {
	one := make([]int32, nin)
	for i := range one {
		one[i] = max(-1, int32(r.IntN(nout+10))-10)
	}
	return one
}

// poolEvents lists about a quarter of nin inputs as one step's events and,
// with data, gives each a value from value.
func poolEvents(r *rand.Rand, nin int, data []float32, value func() float32) []int32 {
	var act []int32
	for i := range nin {
		if r.IntN(4) == 0 {
			act = append(act, int32(i))
			if data != nil {
				data[i] = value()
			}
		}
	}
	return act
}

// TestPoolMaxOne: the dispatching poolMaxOne (assembly on amd64) leaves the
// same counts, leaders and spike bits as the Go loop, step after step, for
// spikes and for signed values, with inputs outside every window and ties.
func TestPoolMaxOne(t *testing.T) {
	r := rand.New(rand.NewPCG(14, 15))
	const nin, nout = 300, 70
	one := poolWindows(r, nin, nout)
	for _, signed := range []bool{false, true} {
		var data []float32
		if signed {
			data = make([]float32, nin)
		}
		countA, countB := make([]float32, nin), make([]float32, nin)
		leadA, leadB := make([]uint64, nout), make([]uint64, nout)
		for o := range leadA {
			leadA[o] = rank(0, int32(r.IntN(nin)))
			leadB[o] = leadA[o]
		}
		for step := range 30 {
			// Ties, zeros and signs.
			act := poolEvents(r, nin, data, func() float32 { return float32(r.IntN(5)-2) * 0.75 })
			spikedA, spikedB := make([]uint64, (nout+63)/64), make([]uint64, (nout+63)/64)
			poolMaxOne(act, data, one, countA, leadA, spikedA)
			poolMaxOneGo(act, data, one, countB, leadB, spikedB)
			if !slices.Equal(countA, countB) || !slices.Equal(leadA, leadB) || !slices.Equal(spikedA, spikedB) {
				t.Fatalf("signed=%v step %d: poolMaxOne and the Go loop differ", signed, step)
			}
			if step == 29 && spikedA[0] == 0 {
				t.Fatalf("signed=%v: no window took a spike", signed)
			}
		}
	}
}

// TestPoolSumOne: the dispatching poolSumOne (assembly on amd64) leaves the
// same sums and reached bits and counts the same adds as the Go loop, for
// spikes and for signed values, with inputs outside every window.
func TestPoolSumOne(t *testing.T) {
	r := rand.New(rand.NewPCG(16, 17))
	const nin, nout = 300, 70
	one := poolWindows(r, nin, nout)
	for _, signed := range []bool{false, true} {
		var data []float32
		if signed {
			data = make([]float32, nin)
		}
		for step := range 20 {
			act := poolEvents(r, nin, data, func() float32 { return r.Float32()*2 - 1 })
			outA, outB := make([]float32, nout), make([]float32, nout)
			for o := range outA {
				outA[o] = r.Float32()
				outB[o] = outA[o]
			}
			reachedA, reachedB := make([]uint64, (nout+63)/64), make([]uint64, (nout+63)/64)
			na := poolSumOne(act, data, one, outA, reachedA)
			nb := poolSumOneGo(act, data, one, outB, reachedB)
			if na != nb || !slices.Equal(outA, outB) || !slices.Equal(reachedA, reachedB) {
				t.Fatalf("signed=%v step %d: poolSumOne and the Go loop differ (%d, %d adds)", signed, step, na, nb)
			}
			if nb == 0 || nb == len(act) {
				t.Fatalf("signed=%v step %d: %d of %d events in a window: the test misses a case", signed, step, nb, len(act))
			}
		}
	}
}

// TestIFStepKernel: the vector IF update (periodic θ and current, both
// resets, with and without current, 8 and 16 neurons a turn) equals the
// scalar rule of DESIGN §2.
func TestIFStepKernel(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{8, 16, 24, 96, 120, 200, 1024} {
		// A period of n: arrays that do not repeat (a compacted layer);
		// 24 and 40: periods of 8 mod 16 (6 or 10 channels).
		for _, per := range []int{8, 16, 24, 32, 40, n} {
			if n%per != 0 {
				continue
			}
			// The arrays one period long, or repeated over the layer as a
			// layer holds them.
			for _, full := range []bool{false, true} {
				for _, zero := range []bool{false, true} {
					for _, withCur := range []bool{false, true} {
						v := make([]float32, n)
						th := make([]float32, per)
						cur := make([]float32, per)
						for i := range v {
							v[i] = r.Float32()*3 - 1
						}
						for i := range th {
							th[i] = r.Float32() + 0.1
							cur[i] = r.Float32()*0.6 - 0.2
						}
						want := slices.Clone(v)
						var spikes []int
						for i := range want {
							x := want[i]
							if withCur {
								x += cur[i%per]
							}
							if x >= th[i%per] {
								if zero {
									x = 0
								} else {
									x -= th[i%per]
								}
								spikes = append(spikes, i)
							}
							want[i] = x
						}
						c, thp := cur, th
						if full {
							c, thp = make([]float32, n), make([]float32, n)
							for i := range n {
								c[i], thp[i] = cur[i%per], th[i%per]
							}
						}
						if !withCur {
							c = nil
						}
						// ifStep, then the scalar rule for the neurons it left
						// (as ifOp.step does).
						step := func(v, data []float32, act []int32) []int32 {
							done, act := ifStep(v, c, thp, per, data, act, zero)
							if useAVX2 && done < n&^7 {
								t.Fatalf("n=%d: the vector step did %d neurons", n, done)
							}
							for i := done; i < n; i++ {
								x := v[i]
								if c != nil {
									x += c[i%per]
								}
								if x >= th[i%per] {
									if zero {
										x = 0
									} else {
										x -= th[i%per]
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
						data := make([]float32, n)
						v2, v3 := slices.Clone(v), slices.Clone(v)
						act := step(v, data, make([]int32, 3, 3+n))
						act2 := step(v2, nil, make([]int32, 0, n+8))
						act3 := step(v3, nil, make([]int32, 2, 2+n+8))
						if !slices.Equal(v, v2) || !slices.Equal(act[3:], act2) {
							t.Fatalf("n=%d period=%d full=%v zero=%v cur=%v: the step without a data array differs", n, per, full, zero, withCur)
						}
						if !slices.Equal(v, v3) || !slices.Equal(act[3:], act3[2:]) {
							t.Fatalf("n=%d period=%d full=%v zero=%v cur=%v: the branch-free step differs", n, per, full, zero, withCur)
						}
						got := []int{0, 0, 0}
						for _, a := range act[3:] {
							got = append(got, int(a))
						}
						for i, d := range data {
							if (d == 1) != slices.Contains(got[3:], i) || (d != 0 && d != 1) {
								t.Fatalf("n=%d: data[%d] = %v, spikes %v", n, i, d, got[3:])
							}
						}
						if !slices.Equal(v, want) || !slices.Equal(got, append([]int{0, 0, 0}, spikes...)) {
							t.Fatalf("n=%d period=%d full=%v zero=%v cur=%v: vector IF step differs from the scalar rule", n, per, full, zero, withCur)
						}
					}
				}
			}
		}
	}
}

// TestLiveNeurons: the compaction of an IF layer under a constant current
// keeps, in order and with their v0, current and threshold, the neurons that
// canFire within the horizon; the assembly and the Go loop agree at every
// length; a neuron it drops does not fire in the horizon's steps of the IF
// rule (1,000 when unbounded), and the bound is tight enough to drop some of
// the neurons that are close to firing in time.
func TestLiveNeurons(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	special := []float32{0, float32(math.Copysign(0, -1)), float32(math.NaN()), 0.5, -0.5, 1e-30, -1e-30}
	droppedPositive := 0
	for _, horizon := range []float64{math.Inf(1), 1, 7, 32, 300} {
		for _, n := range []int{0, 1, 7, 8, 9, 31, 64, 203} {
			cur, v0, th := make([]float32, n), make([]float32, n), make([]float32, n)
			for i := range cur {
				th[i] = r.Float32() + 0.1
				// v_init up to 1.5: a membrane may start at or above θ.
				v0[i] = th[i] * r.Float32() * 1.5
				cur[i] = r.Float32()*0.6 - 0.4
				switch r.IntN(4) {
				case 0:
					cur[i] = special[r.IntN(len(special))]
				case 1:
					// I <= 0 with v0 + I on θ or just below it.
					v0[i] = th[i] + r.Float32()*0.3
					cur[i] = th[i] - v0[i]
					if r.IntN(2) == 0 {
						cur[i] = math.Nextafter32(cur[i], float32(math.Inf(-1)))
					}
				case 2:
					// I > 0 that reaches θ around the last step.
					v0[i] = th[i] * r.Float32() * 0.9
					steps := min(horizon, 1000)
					cur[i] = float32(float64(th[i]-v0[i]) / steps * (1 + (r.Float64()-0.5)*1e-5))
				}
			}
			var want []int32
			for i, c := range cur {
				if canFire(c, v0[i], th[i], horizon) {
					want = append(want, int32(i))
				}
			}
			outs := func() ([]int32, []float32, []float32, []float32) {
				return make([]int32, n+8), make([]float32, n+8), make([]float32, n+8), make([]float32, n+8)
			}
			live, cv, ccur, cth := outs()
			k := liveNeurons(cur, v0, th, live, cv, ccur, cth, horizon)
			gl, gv, gc, gt := outs()
			gk := liveGo(cur, v0, th, gl, gv, gc, gt, horizon, 0, 0)
			if !slices.Equal(live[:k], want) || !slices.Equal(gl[:gk], want) {
				t.Fatalf("horizon %v n=%d: kept %v (Go loop %v), want %v", horizon, n, live[:k], gl[:gk], want)
			}
			for j, i := range want {
				if math.Float32bits(cv[j]) != math.Float32bits(v0[i]) || math.Float32bits(ccur[j]) != math.Float32bits(cur[i]) || cth[j] != th[i] {
					t.Fatalf("n=%d: entry %d (neuron %d) carries (%v, %v, %v), want (%v, %v, %v)", n, j, i, cv[j], ccur[j], cth[j], v0[i], cur[i], th[i])
				}
			}
			for i, c := range cur {
				if slices.Contains(want, int32(i)) {
					continue
				}
				if c > 0 {
					droppedPositive++
				}
				v := v0[i]
				for step := range int(min(horizon, 1000)) {
					if v += c; v >= th[i] {
						t.Fatalf("horizon %v n=%d: dropped neuron %d (v0 %v, I %v, θ %v) fires at step %d", horizon, n, i, v0[i], c, th[i], step+1)
					}
				}
			}
		}
	}
	if droppedPositive < 20 {
		t.Fatalf("only %d neurons with a positive current were left out: the horizon bound is not used", droppedPositive)
	}
}

// TestWindowMaxKernel: the dispatching windowMax (assembly on amd64 with
// AVX2) equals windowMaxGo at every channel count, on windows of 0 to 5
// pixels, and writes nothing past the outputs (masked tails).
func TestWindowMaxKernel(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 12))
	for c := 1; c <= 41; c++ {
		pixels := 3 + r.IntN(20)
		in := make([]float32, pixels*c)
		for i := range in {
			// A few exact ties, and values of either sign.
			in[i] = float32(r.IntN(7)-3) + float32(r.IntN(2))*(r.Float32()-0.5)
		}
		g := &poolGeom{c: c, winAt: []int32{0}}
		outs := 1 + r.IntN(12)
		for range outs {
			for range r.IntN(6) {
				g.winOff = append(g.winOff, int32(r.IntN(pixels)*c))
			}
			g.winAt = append(g.winAt, int32(len(g.winOff)))
		}
		const guard = 9
		a := make([]float32, outs*c+guard)
		b := make([]float32, outs*c+guard)
		for i := range a {
			a[i], b[i] = 77, 77
		}
		windowMax(g, in, a[:outs*c])
		windowMaxGo(g, in, b[:outs*c])
		if !slices.Equal(a, b) {
			t.Fatalf("c=%d: windowMax %v, Go loop %v", c, a, b)
		}
		for q := range outs {
			w := g.winOff[g.winAt[q]:g.winAt[q+1]]
			for k := range c {
				want := float32(0)
				for j, p := range w {
					if v := in[int(p)+k]; j == 0 || v > want {
						want = v
					}
				}
				if got := a[q*c+k]; got != want {
					t.Fatalf("c=%d output %d channel %d: %v, want %v (window %v)", c, q, k, got, want, w)
				}
			}
		}
	}
}
