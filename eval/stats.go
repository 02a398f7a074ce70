package eval

import "math"

// pearson accumulates the Pearson correlation of (x, y) pairs in one pass
// with Welford-style co-moments, so a layer of millions of neuron·sample
// pairs never has to be held in memory and large means do not cancel.
type pearson struct {
	n              float64
	meanX, meanY   float64
	m2X, m2Y, coXY float64
}

func (p *pearson) add(x, y float64) {
	p.n++
	dx := x - p.meanX
	p.meanX += dx / p.n
	dy := y - p.meanY
	p.meanY += dy / p.n
	p.m2X += dx * (x - p.meanX)
	p.m2Y += dy * (y - p.meanY)
	p.coXY += dx * (y - p.meanY)
}

// merge folds q into p (Chan et al.'s parallel update), so workers can
// accumulate separately.
func (p *pearson) merge(q *pearson) {
	if q.n == 0 {
		return
	}
	if p.n == 0 {
		*p = *q
		return
	}
	n := p.n + q.n
	dx, dy := q.meanX-p.meanX, q.meanY-p.meanY
	f := p.n * q.n / n
	p.m2X += q.m2X + dx*dx*f
	p.m2Y += q.m2Y + dy*dy*f
	p.coXY += q.coXY + dx*dy*f
	p.meanX += dx * q.n / n
	p.meanY += dy * q.n / n
	p.n = n
}

// r is the correlation coefficient. A constant side (zero variance) has no
// defined correlation; it is reported as NaN so a dead layer is not mistaken
// for a well-converted one.
func (p *pearson) r() float64 {
	if p.n < 2 || p.m2X <= 0 || p.m2Y <= 0 {
		return math.NaN()
	}
	r := p.coXY / math.Sqrt(p.m2X*p.m2Y)
	return math.Max(-1, math.Min(1, r))
}

// Pearson is the correlation coefficient of x and y (NaN when either is
// constant or they hold fewer than two pairs).
func Pearson(x, y []float64) float64 {
	var p pearson
	for i := range x {
		p.add(x[i], y[i])
	}
	return p.r()
}

// Wilson returns the Wilson score interval of k successes in n trials at
// normal quantile z (1.96 for 95 %): unlike the normal approximation it stays
// inside [0, 1] and is honest for accuracies near 100 % on small sets.
func Wilson(k, n int, z float64) (lo, hi float64) {
	if n <= 0 {
		return 0, 1
	}
	nf := float64(n)
	p := float64(k) / nf
	z2 := z * z
	den := 1 + z2/nf
	centre := (p + z2/(2*nf)) / den
	half := z * math.Sqrt(p*(1-p)/nf+z2/(4*nf*nf)) / den
	return math.Max(0, centre-half), math.Min(1, centre+half)
}

// gapPP is ANN − SNN accuracy in percentage points, computed from counts so
// that equal counts give exactly 0.
func gapPP(annCorrect, snnCorrect, n int) float64 {
	if n == 0 {
		return 0
	}
	return float64(annCorrect-snnCorrect) * 100 / float64(n)
}

// SmallestTWithin returns the smallest reported T from which on the SNN stays
// within tolPP percentage points below the ANN (an SNN above the ANN counts as
// within), or 0 when even the largest T is not. "From which on" means every
// larger reported T is within too: a curve that touches the ANN at T=16 and
// falls away again (as spiking max-pool can) must not claim T=16.
// points must be sorted by T.
func SmallestTWithin(points []Point, tolPP float64) int {
	// Counts turn into pp with rounding error; a gap of exactly tolPP is within.
	const eps = 1e-9
	t := 0
	for i := len(points) - 1; i >= 0; i-- {
		if points[i].GapPP > tolPP+eps {
			break
		}
		t = points[i].T
	}
	return t
}

// argmax returns the index of the largest value (the lowest index on ties,
// NaN never wins), the prediction rule of both the ANN head and the SNN readout.
func argmax(v []float32) int {
	best := 0
	for i := 1; i < len(v); i++ {
		if v[i] > v[best] || v[best] != v[best] && v[i] == v[i] {
			best = i
		}
	}
	return best
}
