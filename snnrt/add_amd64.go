package snnrt

import "golang.org/x/sys/cpu"

// The scatter inner loop in AVX2 assembly: 8 floats per instruction. Results
// are bit-identical to the Go loops (one rounding per add and per multiply).
var useAVX2 = cpu.X86.HasAVX2

//go:noescape
func addToAVX2(dst, src []float32)

//go:noescape
func addScaledAVX2(dst, src []float32, v float32)

// addTo adds src into dst[:len(src)].
func addTo(dst, src []float32) {
	if useAVX2 && len(src) >= 8 {
		addToAVX2(dst[:len(src)], src)
		return
	}
	addToGo(dst, src)
}

// addScaled adds v·src into dst[:len(src)].
func addScaled(dst, src []float32, v float32) {
	if useAVX2 && len(src) >= 8 {
		addScaledAVX2(dst[:len(src)], src, v)
		return
	}
	addScaledGo(dst, src, v)
}
