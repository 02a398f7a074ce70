package snnrt

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkMaxPoolStep: the spiking max pool alone on cnn_relu6's first pool
// (16×28×28 → 2×2/2) at its measured 2 % firing rate, 32 steps per sample:
// the cost per input spike.
func BenchmarkMaxPoolStep(b *testing.B) {
	n := &Node{Op: OpSpikeMaxPool, Kernel: []int{2, 2}, Strides: []int{2, 2}}
	in, out := []int{16, 28, 28}, []int{16, 14, 14}
	g := newPoolGeom(n, in, out)
	r := rand.New(rand.NewPCG(1, 2))
	nin, nout := 16*28*28, 16*14*14
	steps := make([][]int32, 32)
	for s := range steps {
		var a []int32
		for i := range nin {
			if r.Float32() < 0.02 {
				a = append(a, int32(i))
			}
		}
		steps[s] = a
	}
	ib := &vbuf{data: make([]float32, nin), act: make([]int32, 0, nin+8)}
	ob := &vbuf{data: make([]float32, nout), act: make([]int32, 0, nout+8), dataless: true}
	m := newMaxPoolOp(g, ib, ob, kindSparse, true, g.leaders0(nout))
	var spikes int
	for b.Loop() {
		m.reset()
		for _, a := range steps {
			ib.act = append(ib.act[:0], a...)
			m.step()
			spikes += len(a)
		}
	}
	b.ReportMetric(b.Elapsed().Seconds()*1e9/float64(spikes), "ns/spike")
}

// BenchmarkWindowMax: the max pool of a constant current (once per sample
// under analog input) on lenet5's and cnn_relu6's first pools, with the
// vector kernel and with the Go loop.
func BenchmarkWindowMax(b *testing.B) {
	have := useAVX2
	defer func() { useAVX2 = have }()
	for _, c := range []int{6, 16} {
		n := &Node{Op: OpSpikeMaxPool, Kernel: []int{2, 2}, Strides: []int{2, 2}}
		g := newPoolGeom(n, []int{c, 28, 28}, []int{c, 14, 14})
		r := rand.New(rand.NewPCG(1, 3))
		in := make([]float32, c*28*28)
		for i := range in {
			in[i] = r.Float32()*2 - 1
		}
		out := make([]float32, c*14*14)
		for _, vector := range []bool{false, true} {
			if vector && !have {
				continue
			}
			name := "go"
			if vector {
				name = "avx2"
			}
			b.Run(fmt.Sprintf("c=%d/%s", c, name), func(b *testing.B) {
				useAVX2 = vector
				for b.Loop() {
					g.windowMax(in, out)
				}
				b.ReportMetric(b.Elapsed().Seconds()*1e9/float64(b.N*len(in)), "ns/input")
			})
		}
	}
}
