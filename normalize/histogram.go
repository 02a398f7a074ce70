package normalize

import "math"

// histogram counts positive values in B equal bins over [0, hi). When a value
// at or above hi arrives, hi doubles and pairs of bins merge, so one pass
// suffices, memory is fixed (B counters) and a percentile read from it is off
// by at most one bin width, hi/B ≤ 2·max/B.
type histogram struct {
	counts []uint32
	hi     float32 // upper edge; 0 until the first positive value
	inv    float32 // B / hi
	n      uint64  // positive values seen
	max    float32 // exact maximum (Diehl 2015 needs it, and it bounds the percentile)
}

func newHistogram(bins int) *histogram { return &histogram{counts: make([]uint32, bins)} }

func (h *histogram) add(v float32) {
	if !(v > 0) { // zero, negative and NaN carry no information about the scale
		return
	}
	if v > h.max {
		h.max = v
	}
	if v >= h.hi {
		h.grow(v)
	}
	i := int(v * h.inv)
	if i >= len(h.counts) { // rounding at the top edge
		i = len(h.counts) - 1
	}
	h.counts[i]++
	h.n++
}

// grow doubles hi until v fits, merging adjacent bins each time.
func (h *histogram) grow(v float32) {
	if h.hi == 0 {
		// Start with a power of two just above v so later doublings stay exact.
		h.hi = float32(math.Pow(2, math.Ceil(math.Log2(float64(v))+1e-9)))
		if h.hi <= v {
			h.hi *= 2
		}
		h.inv = float32(len(h.counts)) / h.hi
		return
	}
	b := len(h.counts)
	for v >= h.hi {
		for i := 0; i < b/2; i++ {
			h.counts[i] = h.counts[2*i] + h.counts[2*i+1]
		}
		for i := b / 2; i < b; i++ {
			h.counts[i] = 0
		}
		h.hi *= 2
	}
	h.inv = float32(b) / h.hi
}

// merge adds o's counts into h (both built with the same bin count).
func (h *histogram) merge(o *histogram) {
	if o.n == 0 {
		return
	}
	if o.hi > h.hi {
		h.grow(o.hi * 0.75) // any value in (hi/2, hi) lifts h to o's range
		if h.hi < o.hi {
			h.grow(o.hi)
		}
	}
	// o.hi ≤ h.hi, both powers of two: each o bin falls into exactly one h bin.
	ratio := int(h.hi / o.hi)
	for i, c := range o.counts {
		if c != 0 {
			h.counts[i/ratio] += c
		}
	}
	h.n += o.n
	if o.max > h.max {
		h.max = o.max
	}
}

// percentile returns the upper edge of the bin holding the p-th percentile
// (0 < p ≤ 100) of the positive values, capped at the exact maximum; 0 when
// no positive value was seen.
func (h *histogram) percentile(p float64) float32 {
	if h.n == 0 {
		return 0
	}
	if p >= 100 {
		return h.max
	}
	rank := uint64(math.Ceil(p / 100 * float64(h.n)))
	if rank < 1 {
		rank = 1
	}
	var cum uint64
	w := h.hi / float32(len(h.counts))
	for i, c := range h.counts {
		cum += uint64(c)
		if cum >= rank {
			edge := float32(i+1) * w
			if edge > h.max {
				edge = h.max
			}
			return edge
		}
	}
	return h.max
}
