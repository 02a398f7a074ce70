package eval

import (
	"reflect"
	"strings"
	"testing"

	"github.com/snnconvert/snnconvert/ann"
	"github.com/snnconvert/snnconvert/eval/dataset"
)

func TestPermuteSet(t *testing.T) {
	// Two HWC samples of shape [2, 3, 2]; value = 100·k + 10·h + 3·w + c so
	// every element says where it came from.
	shape := []int{2, 3, 2}
	set := &dataset.Set{Name: "hwc", Shape: shape, Labels: []int{0, 1}, Classes: 2}
	for k := 0; k < 2; k++ {
		for h := 0; h < 2; h++ {
			for w := 0; w < 3; w++ {
				for c := 0; c < 2; c++ {
					set.X = append(set.X, float32(100*k+10*h+3*w+c))
				}
			}
		}
	}
	got, err := permuteSet(set, []int{2, 0, 1}) // HWC -> CHW
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Shape, []int{2, 2, 3}) {
		t.Fatalf("shape %v, want [2 2 3]", got.Shape)
	}
	i := 0
	for k := 0; k < 2; k++ {
		for c := 0; c < 2; c++ {
			for h := 0; h < 2; h++ {
				for w := 0; w < 3; w++ {
					if want := float32(100*k + 10*h + 3*w + c); got.X[i] != want {
						t.Fatalf("element %d (k%d c%d h%d w%d) = %v, want %v", i, k, c, h, w, got.X[i], want)
					}
					i++
				}
			}
		}
	}
	if _, err := permuteSet(set, []int{1, 0}); err == nil || !strings.Contains(err.Error(), "does not fit") {
		t.Errorf("wrong-rank permutation: err = %v", err)
	}
}

func TestPredictions(t *testing.T) {
	tests := []struct {
		name    string
		out     []float32
		n       int
		want    []int
		wantErr string
	}{
		{"scores", []float32{0.1, 0.7, 0.2, 0.9, 0.05, 0.05}, 2, []int{1, 0}, ""},
		{"argmax head", []float32{3, 7}, 2, []int{3, 7}, ""},
		{"non-integral single value", []float32{0.5, 2}, 2, nil, "not a class index"},
		{"ragged", []float32{1, 2, 3}, 2, nil, "does not split"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dst := make([]int, tc.n)
			err := predictions(&ann.Tensor{Data: tc.out}, tc.n, dst)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(dst, tc.want) {
				t.Fatalf("got %v, %v; want %v", dst, err, tc.want)
			}
		})
	}
}

// A 2-in, 3-out dense layer whose argmax is known for each input checks
// that batching over a set (more samples than one batch) keeps the order.
func TestANNPredictBatches(t *testing.T) {
	g := &ann.Graph{
		Name:    "dense",
		Inputs:  []ann.Value{{Name: "x", Shape: []int{2}}},
		Outputs: []string{"y"},
		Nodes:   []*ann.Node{{Name: "fc", Op: ann.OpDense, Inputs: []string{"x", "W"}, Outputs: []string{"y"}}},
		Params:  map[string]*ann.Tensor{"W": {Shape: []int{3, 2}, Data: []float32{1, 0, 0, 1, -1, -1}}},
	}
	if err := ann.InferShapes(g); err != nil {
		t.Fatal(err)
	}
	n := annBatch*2 + 7
	set := &dataset.Set{Name: "synthetic", Shape: []int{2}, X: make([]float32, 2*n), Labels: make([]int, n), Classes: 3}
	want := make([]int, n)
	for i := 0; i < n; i++ {
		switch i % 3 {
		case 0: // x0 largest
			set.X[2*i], set.X[2*i+1] = 2, 1
		case 1: // x1 largest
			set.X[2*i], set.X[2*i+1] = 1, 2
		case 2: // both negative: -x0-x1 wins
			set.X[2*i], set.X[2*i+1] = -1, -2
		}
		want[i] = i % 3
	}
	done := 0
	got, err := annPredict(g, set, func(k int) { done += k })
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("predictions differ from the expected pattern")
	}
	if done != n {
		t.Errorf("progress counted %d samples, want %d", done, n)
	}
}
