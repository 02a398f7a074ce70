package snnrt

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestAddKernels: the dispatching addTo/addScaled (assembly on amd64 with
// AVX2) equal the Go loops bit for bit at every length and alignment.
func TestAddKernels(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 8))
	for n := range 75 {
		for off := range 3 {
			src := make([]float32, n+off)
			dst := make([]float32, n+off+2)
			for i := range src {
				src[i] = r.Float32()*2 - 1
			}
			for i := range dst {
				dst[i] = r.Float32()*2 - 1
			}
			v := r.Float32()*3 - 1.5
			a, b := slices.Clone(dst), slices.Clone(dst)
			addTo(a[off:], src[off:])
			addToGo(b[off:], src[off:])
			if !slices.Equal(a, b) {
				t.Fatalf("addTo n=%d off=%d differs from the Go loop", n, off)
			}
			a, b = slices.Clone(dst), slices.Clone(dst)
			addScaled(a[off:], src[off:], v)
			addScaledGo(b[off:], src[off:], v)
			if !slices.Equal(a, b) {
				t.Fatalf("addScaled n=%d off=%d differs from the Go loop", n, off)
			}
		}
	}
}
