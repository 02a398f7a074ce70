package eval

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestPearson(t *testing.T) {
	tests := []struct {
		name string
		x, y []float64
		want float64 // NaN: undefined
	}{
		{"reference value (Python statistics.correlation)", []float64{1, 2, 3, 4, 5, 6}, []float64{2, 1, 4, 3, 7, 8}, 0.9014600868406591},
		{"perfect", []float64{1, 2, 3}, []float64{10, 20, 30}, 1},
		{"perfect negative", []float64{1, 2, 3}, []float64{3, 2, 1}, -1},
		{"affine invariant with a large offset", []float64{1e6 + 1, 1e6 + 2, 1e6 + 3, 1e6 + 4, 1e6 + 5, 1e6 + 6}, []float64{2, 1, 4, 3, 7, 8}, 0.9014600868406591},
		{"constant side", []float64{1, 2, 3}, []float64{5, 5, 5}, math.NaN()},
		{"one pair", []float64{1}, []float64{2}, math.NaN()},
		{"empty", nil, nil, math.NaN()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Pearson(tc.x, tc.y)
			if math.IsNaN(tc.want) {
				if !math.IsNaN(got) {
					t.Fatalf("Pearson = %v, want NaN", got)
				}
				return
			}
			if math.Abs(got-tc.want) > 1e-9 {
				t.Fatalf("Pearson = %.12f, want %.12f", got, tc.want)
			}
		})
	}
}

// Workers accumulate separately and merge; the result must not depend on the split.
func TestPearsonMergeMatchesOnePass(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	x := make([]float64, 1000)
	y := make([]float64, 1000)
	for i := range x {
		x[i] = rng.NormFloat64()*3 + 7
		y[i] = 0.5*x[i] + rng.NormFloat64()
	}
	want := Pearson(x, y)
	for _, splits := range [][]int{{0, 1000}, {0, 1, 1000}, {0, 333, 334, 999, 1000}, {0, 500, 1000}} {
		var total pearson
		for i := 0; i+1 < len(splits); i++ {
			var part pearson
			for j := splits[i]; j < splits[i+1]; j++ {
				part.add(x[j], y[j])
			}
			total.merge(&part)
		}
		if got := total.r(); math.Abs(got-want) > 1e-12 {
			t.Errorf("splits %v: r = %.15f, one pass %.15f", splits, got, want)
		}
	}
}

func TestWilson(t *testing.T) {
	// Reference values from the closed form evaluated in Python.
	tests := []struct {
		k, n   int
		lo, hi float64
	}{
		{95, 100, 0.8882480347279118, 0.9784566385436864},
		{100, 100, 0.9630051925239981, 1},
		{0, 10, 0, 0.2775401687666166},
		{9912, 10000, 0.9891714948150462, 0.9928512513267959},
	}
	for _, tc := range tests {
		lo, hi := Wilson(tc.k, tc.n, 1.96)
		if math.Abs(lo-tc.lo) > 1e-12 || math.Abs(hi-tc.hi) > 1e-12 {
			t.Errorf("Wilson(%d, %d) = [%.15f, %.15f], want [%.15f, %.15f]", tc.k, tc.n, lo, hi, tc.lo, tc.hi)
		}
	}
	if lo, hi := Wilson(0, 0, 1.96); lo != 0 || hi != 1 {
		t.Errorf("Wilson(0, 0) = [%v, %v], want [0, 1]", lo, hi)
	}
}

func TestSmallestTWithin(t *testing.T) {
	pts := func(gaps ...float64) []Point {
		p := make([]Point, len(gaps))
		for i, g := range gaps {
			p[i] = Point{T: 8 << i, GapPP: g}
		}
		return p
	}
	tests := []struct {
		name   string
		points []Point
		tol    float64
		want   int
	}{
		{"converges", pts(5, 1.2, 0.3, 0.1, 0.0), 0.1, 64},
		{"converges, 1 pp", pts(5, 1.2, 0.3, 0.1, 0.0), 1, 32},
		{"exactly at the tolerance counts", pts(0.5, 0.1), 0.1, 16},
		{"SNN above ANN is within", pts(3, -0.2, -0.1), 0.1, 16},
		{"touches then falls away", pts(2, 0.05, 0.4, 0.3), 0.1, 0},
		{"dips late", pts(2, 0.05, 0.4, 0.05), 0.1, 64},
		{"never", pts(9, 8, 7), 1, 0},
		{"no points", nil, 1, 0},
		{"from the first T", pts(0, 0, 0), 0.1, 8},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := SmallestTWithin(tc.points, tc.tol); got != tc.want {
				t.Fatalf("SmallestTWithin = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestGapPP(t *testing.T) {
	if g := gapPP(9912, 9912, 10000); g != 0 {
		t.Errorf("equal counts: gap %v, want exactly 0", g)
	}
	if g := gapPP(9912, 9902, 10000); math.Abs(g-0.1) > 1e-12 {
		t.Errorf("10 of 10000: gap %v, want 0.1", g)
	}
}

func TestArgmax(t *testing.T) {
	nan := float32(math.NaN())
	tests := []struct {
		v    []float32
		want int
	}{
		{[]float32{1, 3, 2}, 1},
		{[]float32{3, 3, 1}, 0},
		{[]float32{nan, 1, 2}, 2},
		{[]float32{-5, -1, -3}, 1},
		{[]float32{7}, 0},
	}
	for _, tc := range tests {
		if got := argmax(tc.v); got != tc.want {
			t.Errorf("argmax(%v) = %d, want %d", tc.v, got, tc.want)
		}
	}
}
