package snnrt

import "golang.org/x/sys/cpu"

// The scatter inner loops and the IF update in AVX2 assembly: 8 floats per
// instruction. Results are bit-identical to the Go loops (one rounding per
// add and per multiply, in the same order).
var useAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasPOPCNT

//go:noescape
func addToAVX2(dst, src []float32)

//go:noescape
func addScaledAVX2(dst, src []float32, v float32)

//go:noescape
func addRunsAVX2(dst, w []float32, rows, offs, runs []int32)

//go:noescape
func addRunsScaledAVX2(dst, w []float32, rows, offs []int32, vals []float32, runs []int32)

//go:noescape
func findRunsAMD64(act []int32, j int, offs, runs []int32, pix []pixRun, m uint64, c, stride int32) (next, filled int, adds int64)

//go:noescape
func poolMaxOneAMD64(act []int32, data []float32, one []int32, count []float32, lead, spiked []uint64)

//go:noescape
func poolSumOneAMD64(act []int32, data []float32, one []int32, out []float32, reached []uint64) int

//go:noescape
func ifFireAVX2(v, cur, th, data []float32, act []int32, zero bool) int

//go:noescape
func ifPackAVX2(v, cur, th []float32, act, pack []int32, zero bool) int

//go:noescape
func ifPack16AVX2(v, cur, th []float32, act, pack []int32) int

//go:noescape
func windowMaxAVX2(in, out []float32, at, offs []int32, c int)

//go:noescape
func liveAVX2(cur, v0, th []float32, live []int32, cv, ccur, cth []float32, pack []int32, horizon float64) int

// packTable[8m+k] is the position of the k-th set bit of the byte m (the
// rest of the row is padding), for ifPackAVX2's branch-free spike lists.
var packTable = func() []int32 {
	t := make([]int32, 256*8)
	for m := range 256 {
		k := 0
		for b := range 8 {
			if m>>b&1 == 1 {
				t[8*m+k] = int32(b)
				k++
			}
		}
	}
	return t
}()

// addTo adds src into dst[:len(src)].
func addTo(dst, src []float32) {
	if useAVX2 && len(src) >= 8 {
		addToAVX2(dst[:len(src)], src)
		return
	}
	addToGo(dst, src)
}

// addScaled adds v·src into dst[:len(src)].
func addScaled(dst, src []float32, v float32) {
	if useAVX2 && len(src) >= 8 {
		addScaledAVX2(dst[:len(src)], src, v)
		return
	}
	addScaledGo(dst, src, v)
}

// oneRow is the (dst, weight) offset pair of a single row at the start of
// both, for addRows through the run kernels. Read only.
var oneRow = []int32{0, 0}

// addRows adds w[o:o+len(dst)] into dst for each o in offs, in order. The
// caller guarantees o+len(dst) <= len(w) for every offset.
func addRows(dst, w []float32, offs []int32) {
	addRowsMulti(dst, w, len(dst), oneRow, offs)
}

// addRowsScaled adds vals[j]·w[offs[j]:offs[j]+len(dst)] into dst, in order.
func addRowsScaled(dst, w []float32, offs []int32, vals []float32) {
	addRowsMultiScaled(dst, w, len(dst), oneRow, offs, vals)
}

// addRowsMulti does addRows(dst[d:d+n], w[o:], offs) for every pair (d, o)
// of rows; the caller guarantees every range is inside dst and w.
func addRowsMulti(dst, w []float32, n int, rows, offs []int32) {
	if useAVX2 {
		run := [5]int32{int32(n), 0, int32(len(rows)), 0, int32(len(offs))}
		addRunsAVX2(dst, w, rows, offs, run[:])
		return
	}
	for r := 0; r < len(rows); r += 2 {
		addRowsGo(dst[rows[r]:int(rows[r])+n], w[rows[r+1]:], offs)
	}
}

// addRowsMultiScaled is addRowsMulti with row j scaled by vals[j].
func addRowsMultiScaled(dst, w []float32, n int, rows, offs []int32, vals []float32) {
	if useAVX2 {
		run := [5]int32{int32(n), 0, int32(len(rows)), 0, int32(len(offs))}
		addRunsScaledAVX2(dst, w, rows, offs, vals[:len(offs)], run[:])
		return
	}
	for r := 0; r < len(rows); r += 2 {
		addRowsScaledGo(dst[rows[r]:int(rows[r])+n], w[rows[r+1]:], offs, vals)
	}
}

// addRuns does, for each run (n, r0, r1, o0, o1) of runs, in order,
// addRowsMulti(dst, w, n, rows[r0:r1], offs[o0:o1]), and with vals
// addRowsMultiScaled with vals[o0:o1]. A row's last n%8 floats go through
// masked loads and stores, which touch nothing past the row.
func addRuns(dst, w []float32, rows, offs []int32, vals []float32, runs []int32) {
	switch {
	case !useAVX2:
		addRunsGo(dst, w, rows, offs, vals, runs)
	case vals == nil:
		addRunsAVX2(dst, w, rows, offs, runs)
	default:
		addRunsScaledAVX2(dst, w, rows, offs, vals, runs)
	}
}

// findRuns is k.findRunsGo, in assembly where the pixel of an event is a
// multiply and a shift (k.cdiv.m set: every layer under 2^21 elements). The
// assembly is plain amd64; it goes with the vector kernels (useAVX2) so that
// the tests that turn those off run the Go loop too.
func findRuns(k *convKernel, act []int32, j int, offs, runs []int32) (int, int, int64) {
	if !useAVX2 || k.cdiv.m == 0 {
		return k.findRunsGo(act, j, offs, runs)
	}
	return findRunsAMD64(act, j, offs[:len(act)], runs, k.pix, k.cdiv.m, int32(k.c), int32(k.kh*k.kw*k.og))
}

// poolMaxOne is poolMaxOneGo, in plain amd64 assembly that goes with the
// vector kernels (see findRuns). Like them it trusts its indices: every event
// is an input of the pool (below len(count), which one and data cover) and one
// maps it to -1 or to an output, covered by lead and spiked.
func poolMaxOne(act []int32, data []float32, one []int32, count []float32, lead, spiked []uint64) {
	if !useAVX2 {
		poolMaxOneGo(act, data, one, count, lead, spiked)
		return
	}
	one = one[:len(count)]
	if data != nil {
		data = data[:len(count)]
	}
	poolMaxOneAMD64(act, data, one, count, lead, spiked[:(len(lead)+63)/64])
}

// poolSumOne is poolSumOneGo in assembly, trusting its indices as
// poolMaxOne does (one and data cover every event, out and reached every
// window).
func poolSumOne(act []int32, data []float32, one []int32, out []float32, reached []uint64) int {
	if !useAVX2 {
		return poolSumOneGo(act, data, one, out, reached)
	}
	if data != nil {
		data = data[:len(one)]
	}
	return poolSumOneAMD64(act, data, one, out, reached[:(len(out)+63)/64])
}

// ifStep updates a prefix of v (see ifFireAVX2), marks each spike in data
// and appends it to act, whose capacity must hold len(v) more entries; with
// data nil the branch-free ifPackAVX2 runs and act needs len(v)+8. p is the
// common period of cur and th (see period). It returns how many neurons it
// did (len(v)&^7) and the extended act; the caller does the rest.
func ifStep(v, cur, th []float32, p int, data []float32, act []int32, zero bool) (int, []int32) {
	if !useAVX2 {
		return 0, act
	}
	n8 := len(v) &^ 7
	if n8 == 0 {
		return 0, act
	}
	// The 16-neuron kernel wraps its place in the period every 16 neurons;
	// arrays that repeat every 8 mod 16 (6 or 10 channels) also repeat over
	// twice that, when they are that long (a layer's are).
	p16 := p
	if p%16 != 0 && p < n8 && 2*p <= len(th) && 2*p <= len(cur) {
		p16 = 2 * p
	}
	var k int
	switch n16 := len(v) &^ 15; {
	case data == nil && cur != nil && !zero && n16 > 0 && (p16%16 == 0 || p16 == n8):
		// The common case (a bias or constant current, subtract reset,
		// spikes read through the list) two blocks a turn: 40 % less time
		// per neuron than ifPackAVX2 in isolation.
		cur := cur[:p16]
		k = ifPack16AVX2(v[:n16], cur, th[:p16], act[len(act):len(act)+n16+8], packTable)
		act = act[:len(act)+k]
		if n8 > n16 {
			// One block of 8 left: the 8-neuron kernel, at its place in the
			// period.
			o := n16 % p16
			blk := act[len(act) : len(act)+16]
			k = ifPackAVX2(v[n16:n8], cur[o:o+8], th[o:o+8], blk, packTable, false)
			for j := range blk[:k] {
				blk[j] += int32(n16)
			}
			act = act[:len(act)+k]
		}
		return n8, act
	}
	if cur != nil {
		cur = cur[:p]
	}
	if data == nil {
		k = ifPackAVX2(v[:n8], cur, th[:p], act[len(act):len(act)+n8+8], packTable, zero)
	} else {
		k = ifFireAVX2(v[:n8], cur, th[:p], data[:n8], act[len(act):len(act)+n8], zero)
	}
	return n8, act[:len(act)+k]
}

// liveNeurons keeps the neurons that can fire within horizon steps under a
// constant current (see liveGo); every output needs len(cur)+8 entries of
// room.
func liveNeurons(cur, v0, th []float32, live []int32, cv, ccur, cth []float32, horizon float64) int {
	n8, k := 0, 0
	if useAVX2 {
		n8 = len(cur) &^ 7
		if n8 > 0 {
			k = liveAVX2(cur[:n8], v0, th, live, cv, ccur, cth, packTable, horizon)
		}
	}
	return liveGo(cur, v0, th, live, cv, ccur, cth, horizon, n8, k)
}

// windowMax sets each of out's pixels to the channel-wise largest input over
// its window (see poolGeom.windowMax), 8 channels an instruction.
func windowMax(g *poolGeom, in, out []float32) {
	if useAVX2 {
		windowMaxAVX2(in, out[:len(g.winAt)*g.c-g.c], g.winAt, g.winOff, g.c)
		return
	}
	windowMaxGo(g, in, out)
}
