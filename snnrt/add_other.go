//go:build !amd64

package snnrt

// addTo adds src into dst[:len(src)].
func addTo(dst, src []float32) { addToGo(dst, src) }

// addScaled adds v·src into dst[:len(src)].
func addScaled(dst, src []float32, v float32) { addScaledGo(dst, src, v) }
