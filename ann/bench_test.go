package ann

import (
	"fmt"
	"testing"
)

// benchGraph reports images/s; allocs/op must read 0 (buffers reused).
func benchGraph(b *testing.B, g *Graph, batch, workers int) {
	e, err := NewExecutor(g, ExecOptions{Workers: workers})
	if err != nil {
		b.Fatal(err)
	}
	in := map[string]*Tensor{"input": images(batch, 1)}
	if _, err := e.Run(in); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := e.Run(in); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "images/s")
}

func BenchmarkExecutor(b *testing.B) {
	for _, g := range []*Graph{lenetGraph(1), mlpGraph(1)} {
		for _, batch := range []int{1, 64} {
			for _, w := range []int{1, 0} {
				b.Run(fmt.Sprintf("%s/batch=%d/workers=%d", g.Name, batch, w), func(b *testing.B) {
					benchGraph(b, g, batch, w)
				})
			}
		}
	}
}

func BenchmarkGemmNT(b *testing.B) {
	for _, d := range []struct{ m, n, k int }{{16, 100, 150}, {64, 512, 784}, {1, 512, 784}} {
		b.Run(fmt.Sprintf("%dx%dx%d", d.m, d.n, d.k), func(b *testing.B) {
			a, w, c := make([]float32, d.m*d.k), make([]float32, d.n*d.k), make([]float32, d.m*d.n)
			for i := range a {
				a[i] = float32(i%7) * 0.1
			}
			for i := range w {
				w[i] = float32(i%5) * 0.1
			}
			for b.Loop() {
				gemmNT(d.m, d.n, d.k, a, d.k, w, d.k, c, d.n, 1, nil, nil)
			}
			b.ReportMetric(2*float64(d.m*d.n*d.k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
