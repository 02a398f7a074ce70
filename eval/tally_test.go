package eval

import (
	"math"
	"reflect"
	"strings"
	"testing"
)

func TestNormalizeTs(t *testing.T) {
	tests := []struct {
		in      []int
		want    []int
		wantErr string
	}{
		{nil, DefaultTs, ""},
		{[]int{128, 8, 32, 8}, []int{8, 32, 128}, ""},
		{[]int{1}, []int{1}, ""},
		{[]int{8, 0}, nil, "not positive"},
		{[]int{-4}, nil, "not positive"},
	}
	for _, tc := range tests {
		got, err := normalizeTs(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("normalizeTs(%v) err = %v, want %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("normalizeTs(%v) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func TestTally(t *testing.T) {
	ty := newTally([]int{8, 32})
	// label, ANN prediction, SNN predictions at T=8 and T=32.
	samples := []struct {
		label, ann int
		snn        []int
	}{
		{1, 1, []int{1, 1}}, // all right
		{2, 2, []int{3, 2}}, // SNN wrong at 8, right at 32
		{4, 5, []int{5, 4}}, // ANN wrong; SNN agrees with it at 8, right at 32
		{7, 7, []int{7, 7}},
	}
	for _, s := range samples {
		ty.add(s.label, s.ann, s.snn)
	}
	var r Result
	ty.fill(&r)
	want := []Point{
		{T: 8, Accuracy: 0.5, Correct: 2, Agreement: 0.75, GapPP: 25},
		{T: 32, Accuracy: 1, Correct: 4, Agreement: 0.75, GapPP: -25},
	}
	if r.Samples != 4 || r.ANNCorrect != 3 || r.ANNAccuracy != 0.75 || !reflect.DeepEqual(r.Points, want) {
		t.Fatalf("got samples %d, ANN %d (%v), points %+v; want 4, 3 (0.75), %+v", r.Samples, r.ANNCorrect, r.ANNAccuracy, r.Points, want)
	}
	if r.TWithin01pp != 32 || r.TWithin1pp != 32 {
		t.Errorf("T within 0.1/1 pp = %d/%d, want 32/32", r.TWithin01pp, r.TWithin1pp)
	}
}

func TestLayerAcc(t *testing.T) {
	t.Run("per-channel scale, ideal rates", func(t *testing.T) {
		// 2 channels of 2 neurons; channel scales 2 and 4. An ideal SNN fires
		// at act/scale, so the correlation is 1 and the mean rate is known.
		l, err := newLayerAcc("if1", "relu1", 4, []float32{2, 4})
		if err != nil {
			t.Fatal(err)
		}
		const steps = 10
		acts := [][]float32{{0, 1, 2, 4}, {2, 0.4, 0.8, 0}}
		for _, a := range acts {
			count := make([]int32, 4)
			for i, v := range a {
				s := float32(2)
				if i >= 2 {
					s = 4
				}
				count[i] = int32(v / s * steps)
			}
			l.add(a, count, steps)
		}
		st := l.stat(steps)
		if math.Abs(st.Correlation-1) > 1e-9 || st.CorrUndefined {
			t.Errorf("correlation %v (undefined %v), want 1", st.Correlation, st.CorrUndefined)
		}
		// rates: {0, .5, .5, 1} and {1, .2, .2, 0}: mean 3.4/8.
		if math.Abs(st.MeanRate-3.4/8) > 1e-6 {
			t.Errorf("mean rate %v, want %v", st.MeanRate, 3.4/8)
		}
		if st.Name != "if1" || st.ANNValue != "relu1" || st.Neurons != 4 {
			t.Errorf("identity fields %+v", st)
		}
	})
	t.Run("silent layer has no correlation", func(t *testing.T) {
		l, _ := newLayerAcc("if2", "relu2", 3, []float32{1})
		l.add([]float32{0.1, 0.2, 0.3}, []int32{0, 0, 0}, 8)
		st := l.stat(8)
		if !st.CorrUndefined || st.Correlation != 0 || st.MeanRate != 0 {
			t.Errorf("silent layer: %+v, want undefined correlation and rate 0", st)
		}
	})
	t.Run("merge equals one accumulator", func(t *testing.T) {
		a, _ := newLayerAcc("x", "y", 2, []float32{1})
		b, _ := newLayerAcc("x", "y", 2, []float32{1})
		one, _ := newLayerAcc("x", "y", 2, []float32{1})
		acts := [][]float32{{1, 2}, {0, 5}, {3, 1}}
		counts := [][]int32{{1, 3}, {0, 4}, {2, 1}}
		for i := range acts {
			one.add(acts[i], counts[i], 4)
			if i < 2 {
				a.add(acts[i], counts[i], 4)
			} else {
				b.add(acts[i], counts[i], 4)
			}
		}
		a.merge(b)
		sa, so := a.stat(4), one.stat(4)
		if math.Abs(sa.Correlation-so.Correlation) > 1e-12 || sa.MeanRate != so.MeanRate {
			t.Errorf("merged %+v, one pass %+v", sa, so)
		}
	})
	for _, bad := range []struct {
		neurons int
		scale   []float32
		want    string
	}{
		{4, nil, "no scale"},
		{5, []float32{1, 2}, "do not split"},
		{2, []float32{0}, "not a positive"},
		{2, []float32{float32(math.Inf(1))}, "not a positive"},
	} {
		if _, err := newLayerAcc("L", "v", bad.neurons, bad.scale); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("newLayerAcc(%d, %v) err = %v, want %q", bad.neurons, bad.scale, err, bad.want)
		}
	}
}

// BenchmarkLayerAccAdd measures the correlation bookkeeping per sample of a
// LeNet-5 first layer (4704 neurons, per-channel scales), which eval does
// for every test sample on top of the simulation.
func BenchmarkLayerAccAdd(b *testing.B) {
	const neurons = 4704
	l, err := newLayerAcc("if1", "relu1", neurons, []float32{1, 2, 3, 4, 5, 6})
	if err != nil {
		b.Fatal(err)
	}
	act := make([]float32, neurons)
	count := make([]int32, neurons)
	for i := range act {
		act[i] = float32(i%97) / 97
		count[i] = int32(i % 13)
	}
	b.SetBytes(neurons * 8)
	b.ResetTimer()
	for b.Loop() {
		l.add(act, count, 128)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*neurons), "ns/neuron")
}
