package dataset

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/snnconvert/snnconvert/internal/npz"
)

var mnistPrep = Preprocessing{Layout: LayoutNCHW, Scale: 1.0 / 255}

func TestMNIST(t *testing.T) {
	test, err := Load("mnist:test", mnistPrep)
	if err != nil {
		t.Fatal(err)
	}
	if test.Len() != 10000 || len(test.Shape) != 3 || test.SampleSize() != 784 {
		t.Fatalf("mnist:test: %d samples of shape %v", test.Len(), test.Shape)
	}
	// The first MNIST test digit is a 7, the first training digit a 5.
	if test.Labels[0] != 7 {
		t.Errorf("first test label %d, want 7", test.Labels[0])
	}
	var max float32
	for _, v := range test.X {
		if v < 0 {
			t.Fatalf("x/255 gave a negative value %v", v)
		}
		if v > max {
			max = v
		}
	}
	if max != 1 {
		t.Errorf("max pixel %v, want 1", max)
	}
	train, err := Load("mnist:train:1000", mnistPrep)
	if err != nil {
		t.Fatal(err)
	}
	if train.Len() != 1000 || train.Labels[0] != 5 {
		t.Errorf("mnist:train:1000: %d samples, first label %d", train.Len(), train.Labels[0])
	}
	if train.SHA256() == test.Slice(0, 1000).SHA256() {
		t.Error("different sets hash the same")
	}
}

func TestPreprocessingLayouts(t *testing.T) {
	cases := []struct {
		p     Preprocessing
		shape []int
		// the probe pixel mapped through the preprocessing
		first func(raw float32) float32
	}{
		{Preprocessing{Layout: LayoutNCHW, Scale: 1.0 / 255, Mean: []float64{0.1307}, Std: []float64{0.3081}}, []int{1, 28, 28},
			func(r float32) float32 { return float32((float64(r)/255 - 0.1307) / 0.3081) }},
		{Preprocessing{Layout: LayoutNHWC, Scale: 1.0 / 255}, []int{28, 28, 1}, func(r float32) float32 { return float32(float64(r) / 255) }},
		{Preprocessing{Layout: LayoutNHW, Scale: 1.0 / 128, Mean: []float64{1}}, []int{28, 28}, func(r float32) float32 { return float32(float64(r)/128 - 1) }},
		{Preprocessing{Layout: LayoutFlat, Scale: 1}, []int{784}, func(r float32) float32 { return r }},
		{Preprocessing{Layout: LayoutNCHW, Scale: 1.0 / 255, Shape: []int{784, 1}}, []int{784, 1}, func(r float32) float32 { return float32(float64(r) / 255) }},
	}
	rawSet, err := Load("mnist:test:1", Preprocessing{Layout: LayoutFlat, Scale: 1})
	if err != nil {
		t.Fatal(err)
	}
	// Probe the brightest pixel of the first test digit (flat index k; with a
	// single channel it sits at k in every layout).
	k, raw := 0, float32(0)
	for i, v := range rawSet.Sample(0) {
		if v > raw {
			k, raw = i, v
		}
	}
	for _, c := range cases {
		s, err := Load("mnist:test:1", c.p)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(s.Shape, c.shape) {
			t.Errorf("%+v: shape %v, want %v", c.p, s.Shape, c.shape)
		}
		want := c.first(raw)
		if got := s.Sample(0)[k]; abs(got-want) > 1e-6 {
			t.Errorf("%+v: probe pixel %v, want %v", c.p, got, want)
		}
	}
}

func abs(x float32) float32 {
	if x < 0 {
		return -x
	}
	return x
}

func TestCIFAR(t *testing.T) {
	if _, err := os.Stat(CorpusDir()); err != nil {
		t.Skipf("shared ONNX corpus not found at %s: CIFAR-10 sets come from it", CorpusDir())
	}
	p := Preprocessing{Layout: LayoutNCHW, Scale: 1.0 / 255}
	eran, err := Load("cifar10:eran100", p)
	if err != nil {
		t.Fatal(err)
	}
	calib, err := Load("cifar10:calib499", p)
	if err != nil {
		t.Fatal(err)
	}
	if eran.Len() != 100 || calib.Len() != 499 || eran.SampleSize() != 3072 {
		t.Fatalf("eran %d, calib %d samples of %v", eran.Len(), calib.Len(), eran.Shape)
	}
	// The ERAN CSV is HWC: the green value of pixel 0 is the CSV's third field.
	for _, l := range append(eran.Labels, calib.Labels...) {
		if l < 0 || l > 9 {
			t.Fatalf("label %d outside 0..9", l)
		}
	}
}

func TestNPZAndErrors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "d.npz")
	if err := npz.WriteFile(path, map[string]*npz.Array{
		"x":     {Shape: []int{2, 3}, Data: []float32{1, 2, 3, 4, 5, 6}},
		"label": {Shape: []int{2}, Data: []float32{4, 2}},
	}); err != nil {
		t.Fatal(err)
	}
	s, err := Load("npz:"+path, Preprocessing{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Len() != 2 || s.Sample(1)[2] != 6 || s.Labels[0] != 4 {
		t.Errorf("npz set: %+v", s)
	}
	bad := []struct{ spec, want string }{
		{"mnist", "want KIND:ARGS"},
		{"mnist:valid", "mnist:test or mnist:train"},
		{"mnist:test:-3", "not a positive integer"},
		{"foo:bar", "unknown kind"},
		{"npz:" + filepath.Join(dir, "missing.npz"), "missing.npz"},
		{"idx:onlyone", "IMAGES,LABELS"},
		{"cifar10:other", "eran100"},
	}
	for _, b := range bad {
		_, err := Load(b.spec, mnistPrep)
		if err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("Load(%q) = %v, want an error containing %q", b.spec, err, b.want)
		}
	}
	if _, err := Load("mnist:test", Preprocessing{Layout: "CHWN", Scale: 1}); err == nil || !strings.Contains(err.Error(), "unknown layout") {
		t.Errorf("bad layout: %v", err)
	}
}

// A short load must not shorten later loads of the same file: the idx cache is
// shared by every Load in the process.
func TestCachedLoadKeepsWholeFile(t *testing.T) {
	p := Preprocessing{Layout: LayoutNCHW, Shape: []int{1, 28, 28}, Scale: 1.0 / 255}
	small, err := Load("mnist:test:7", p)
	if err != nil {
		t.Skip(err)
	}
	big, err := Load("mnist:test:1000", p)
	if err != nil {
		t.Fatal(err)
	}
	if len(small.Labels) != 7 || len(big.Labels) != 1000 {
		t.Fatalf("got %d and %d labels, want 7 and 1000", len(small.Labels), len(big.Labels))
	}
}
