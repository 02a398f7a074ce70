package snnrt

import (
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
