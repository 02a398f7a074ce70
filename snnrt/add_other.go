//go:build !amd64

package snnrt

// useAVX2 is false off amd64: the Go loops do all the work.
var useAVX2 = false

// addTo adds src into dst[:len(src)].
func addTo(dst, src []float32) { addToGo(dst, src) }

// addScaled adds v·src into dst[:len(src)].
func addScaled(dst, src []float32, v float32) { addScaledGo(dst, src, v) }

// addRows adds w[o:o+len(dst)] into dst for each o in offs, in order.
func addRows(dst, w []float32, offs []int32) { addRowsGo(dst, w, offs) }

// addRowsScaled adds vals[j]·w[offs[j]:offs[j]+len(dst)] into dst, in order.
func addRowsScaled(dst, w []float32, offs []int32, vals []float32) {
	addRowsScaledGo(dst, w, offs, vals)
}

// addRowsMulti does addRows(dst[d:d+n], w[o:], offs) for every pair (d, o) of rows.
func addRowsMulti(dst, w []float32, n int, rows, offs []int32) {
	for r := 0; r < len(rows); r += 2 {
		addRowsGo(dst[rows[r]:int(rows[r])+n], w[rows[r+1]:], offs)
	}
}

// addRuns does, for each run (n, r0, r1, o0, o1) of runs, in order,
// addRowsMulti(dst, w, n, rows[r0:r1], offs[o0:o1]), and with vals
// addRowsMultiScaled with vals[o0:o1].
func addRuns(dst, w []float32, rows, offs []int32, vals []float32, runs []int32) {
	addRunsGo(dst, w, rows, offs, vals, runs)
}

// findRuns is k.findRunsGo.
func findRuns(k *convKernel, act []int32, j int, offs, runs []int32) (int, int, int64) {
	return k.findRunsGo(act, j, offs, runs)
}

// poolMaxOne is poolMaxOneGo.
func poolMaxOne(act []int32, data []float32, one []int32, count []float32, lead, spiked []uint64) {
	poolMaxOneGo(act, data, one, count, lead, spiked)
}

// poolSumOne is poolSumOneGo.
func poolSumOne(act []int32, data []float32, one []int32, out []float32, reached []uint64) int {
	return poolSumOneGo(act, data, one, out, reached)
}

// addRowsMultiScaled is addRowsMulti with row j scaled by vals[j].
func addRowsMultiScaled(dst, w []float32, n int, rows, offs []int32, vals []float32) {
	for r := 0; r < len(rows); r += 2 {
		addRowsScaledGo(dst[rows[r]:int(rows[r])+n], w[rows[r+1]:], offs, vals)
	}
}

// ifStep: no vector version here; ifOp.step does every neuron.
func ifStep(v, cur, th []float32, p int, data []float32, act []int32, zero bool) (int, []int32) {
	return 0, act
}

// liveNeurons keeps the neurons that can fire within horizon steps under a
// constant current (see liveGo).
func liveNeurons(cur, v0, th []float32, live []int32, cv, ccur, cth []float32, horizon float64) int {
	return liveGo(cur, v0, th, live, cv, ccur, cth, horizon, 0, 0)
}

// windowMax sets each of out's pixels to the channel-wise largest input over
// its window (see poolGeom.windowMax).
func windowMax(g *poolGeom, in, out []float32) { windowMaxGo(g, in, out) }
