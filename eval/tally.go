package eval

import (
	"fmt"
	"math"
	"sort"
)

// DefaultTs are the timestep counts reported when Options.Ts is empty.
var DefaultTs = []int{8, 16, 32, 64, 128, 256}

// normalizeTs sorts and deduplicates the requested timesteps.
func normalizeTs(ts []int) ([]int, error) {
	if len(ts) == 0 {
		return append([]int(nil), DefaultTs...), nil
	}
	out := append([]int(nil), ts...)
	sort.Ints(out)
	k := 0
	for i, t := range out {
		if t <= 0 {
			return nil, fmt.Errorf("timesteps: %d is not positive", t)
		}
		if i > 0 && t == out[k-1] {
			continue
		}
		out[k] = t
		k++
	}
	return out[:k], nil
}

// tally counts correct predictions of the ANN and of the SNN at each
// checkpoint, and how often the two agree.
type tally struct {
	ts         []int
	n          int
	annCorrect int
	snnCorrect []int
	agree      []int
}

func newTally(ts []int) *tally {
	return &tally{ts: ts, snnCorrect: make([]int, len(ts)), agree: make([]int, len(ts))}
}

// add records one sample: its label, the ANN prediction and the SNN
// prediction at each checkpoint (in the order of ts).
func (t *tally) add(label, ann int, snn []int) {
	t.n++
	if ann == label {
		t.annCorrect++
	}
	for i, p := range snn {
		if p == label {
			t.snnCorrect[i]++
		}
		if p == ann {
			t.agree[i]++
		}
	}
}

// fill writes the accuracy figures into r.
func (t *tally) fill(r *Result) {
	r.Samples = t.n
	r.ANNCorrect = t.annCorrect
	r.ANNAccuracy = ratio(t.annCorrect, t.n)
	r.Points = make([]Point, len(t.ts))
	for i, T := range t.ts {
		r.Points[i] = Point{
			T:         T,
			Accuracy:  ratio(t.snnCorrect[i], t.n),
			Correct:   t.snnCorrect[i],
			Agreement: ratio(t.agree[i], t.n),
			GapPP:     gapPP(t.annCorrect, t.snnCorrect[i], t.n),
		}
	}
	r.TWithin01pp = SmallestTWithin(r.Points, 0.1)
	r.TWithin1pp = SmallestTWithin(r.Points, 1)
}

func ratio(k, n int) float64 {
	if n == 0 {
		return 0
	}
	return float64(k) / float64(n)
}

// layerAcc accumulates, for one IF layer, the correlation between the ANN
// activation it approximates (divided by the layer's scale) and its firing
// rate, and its mean firing rate.
type layerAcc struct {
	name, annValue string
	neurons        int
	// scale has 1 entry (per layer) or one per channel; chanSize is the number
	// of neurons per channel (the layer's values are channel-major).
	scale    []float32
	chanSize int
	corr     pearson
	spikes   float64
	samples  int
}

func newLayerAcc(name, annValue string, neurons int, scale []float32) (*layerAcc, error) {
	l := &layerAcc{name: name, annValue: annValue, neurons: neurons, scale: scale, chanSize: neurons}
	switch {
	case len(scale) == 0:
		return nil, fmt.Errorf("layer %q: no scale for ANN value %q", name, annValue)
	case len(scale) > 1:
		if neurons%len(scale) != 0 {
			return nil, fmt.Errorf("layer %q: %d neurons do not split into %d channel scales", name, neurons, len(scale))
		}
		l.chanSize = neurons / len(scale)
	}
	for c, s := range scale {
		if !(s > 0) || math.IsInf(float64(s), 0) {
			return nil, fmt.Errorf("layer %q: scale[%d] = %v is not a positive finite number", name, c, s)
		}
	}
	return l, nil
}

// add records one sample: act is the ANN activation, count the number of
// spikes of each neuron after steps steps. The sample's moments are summed
// plainly (values are O(1) and a layer has thousands, not billions, of
// neurons, so float64 loses nothing) and merged into the running
// correlation once, which keeps divisions out of the inner loop.
func (l *layerAcc) add(act []float32, count []int32, steps int) {
	inv := 1 / float64(steps)
	var sx, sy, sxx, syy, sxy float64
	var spikes int64
	for c := 0; c*l.chanSize < len(act); c++ {
		is := 1 / float64(l.scale[min(c, len(l.scale)-1)])
		lo, hi := c*l.chanSize, (c+1)*l.chanSize
		for i, a := range act[lo:hi] {
			x := float64(a) * is
			k := count[lo+i]
			spikes += int64(k)
			y := float64(k) * inv
			sx += x
			sy += y
			sxx += x * x
			syy += y * y
			sxy += x * y
		}
	}
	n := float64(len(act))
	mx, my := sx/n, sy/n
	l.corr.merge(&pearson{n: n, meanX: mx, meanY: my,
		m2X: max(0, sxx-sx*mx), m2Y: max(0, syy-sy*my), coXY: sxy - sx*my})
	l.spikes += float64(spikes)
	l.samples++
}

// merge folds another accumulator of the same layer into l.
func (l *layerAcc) merge(o *layerAcc) {
	l.corr.merge(&o.corr)
	l.spikes += o.spikes
	l.samples += o.samples
}

func (l *layerAcc) stat(steps int) LayerStat {
	st := LayerStat{Name: l.name, ANNValue: l.annValue, Neurons: l.neurons}
	if l.samples > 0 {
		st.MeanRate = l.spikes / (float64(l.samples) * float64(l.neurons) * float64(steps))
	}
	if r := l.corr.r(); math.IsNaN(r) {
		st.CorrUndefined = true
	} else {
		st.Correlation = r
	}
	return st
}
