package eval

import (
	"context"
	"fmt"

	"github.com/snnconvert/snnconvert/snnrt"
)

// snnRunOptions are the simulation settings eval passes to the runtime.
type snnRunOptions struct {
	ts       []int
	record   []string
	encoding string // "" keeps the network's own
	seed     int64
	batch    int
	progress func(int) // samples finished since the last call
	ctx      context.Context
}

// snnResult is one simulation as eval uses it.
type snnResult struct {
	// preds[i][s] is the prediction for sample s at step ts[i].
	preds [][]int
	// counts[layer][s*neurons+i] is neuron i's spike count after max(ts) steps.
	counts    map[string][]int32
	acs, macs float64 // totals over the samples
	// seconds the simulation itself took (no recording or set-up).
	seconds float64
}

// runSNN simulates net on set once up to the largest T.
func runSNN(net *snnrt.Network, set snnrt.Input, o snnRunOptions) (*snnResult, error) {
	maxT := o.ts[len(o.ts)-1]
	last := 0
	res, err := snnrt.Run(net, set, snnrt.RunOptions{
		T:           maxT,
		Checkpoints: o.ts,
		Encoding:    snnrt.Encoding(o.encoding),
		Seed:        o.seed,
		Batch:       o.batch,
		Record:      o.record,
		Context:     o.ctx,
		Progress: func(done, _ int) {
			if o.progress != nil {
				o.progress(done - last)
			}
			last = done
		},
	})
	if err != nil {
		return nil, err
	}
	out := &snnResult{preds: make([][]int, len(o.ts)), counts: res.NeuronSpikes,
		acs: float64(res.ACs), macs: float64(res.MACs), seconds: res.Elapsed.Seconds()}
	for i, t := range o.ts {
		c := res.Checkpoint(t)
		if c < 0 {
			return nil, fmt.Errorf("runtime did not record checkpoint T=%d", t)
		}
		out.preds[i] = res.Predictions[c]
	}
	return out, nil
}

// rasterSteps caps the raster's length: a longer one is no more readable,
// and each step costs one more single-sample run (see recordRaster).
const rasterSteps = 64

// oneSample is an snnrt.Input holding a single sample of a larger set.
type oneSample struct {
	set   snnrt.Input
	index int
}

func (o oneSample) Len() int           { return 1 }
func (o oneSample) SampleShape() []int { return o.set.SampleShape() }
func (o oneSample) Batch(dst []float32, from, n int) error {
	if from != 0 || n != 1 {
		return fmt.Errorf("sample %d: batch [%d, %d) out of range (len 1)", o.index, from, from+n)
	}
	return o.set.Batch(dst, o.index, 1)
}

// recordRaster records which neurons of the chosen layers fire at each step
// for one sample. The runtime reports spike counts at the end of a run, not
// per step, so the sample is run for T = 1, 2, …, S steps and the spikes of
// step t are the counts after t steps minus those after t−1 (the simulation
// is deterministic, so the prefix of a longer run equals a shorter run). The
// network is compiled once for all those runs.
func recordRaster(net *snnrt.Network, set snnrt.Input, index, maxT int, names []string, o snnRunOptions) (*Raster, error) {
	layers := pickRasterLayers(names)
	steps := min(maxT, rasterSteps)
	rs := &Raster{Sample: index, Steps: steps, Layers: make([]RasterLayer, len(layers))}
	prog, err := snnrt.Compile(net, snnrt.Encoding(o.encoding), layers)
	if err != nil {
		return nil, err
	}
	prev := map[string][]int32{}
	for t := 1; t <= steps; t++ {
		res, err := prog.Run(oneSample{set, index}, snnrt.RunOptions{
			T: t, Seed: o.seed, Workers: 1, Context: o.ctx,
		})
		if err != nil {
			return nil, err
		}
		for li, name := range layers {
			cur := res.NeuronSpikes[name]
			l := &rs.Layers[li]
			if t == 1 {
				l.Name, l.Neurons = name, len(cur)
				prev[name] = make([]int32, len(cur))
			}
			var fired []int32
			for i, c := range cur {
				if c != prev[name][i] {
					fired = append(fired, int32(i))
				}
			}
			l.Spikes = append(l.Spikes, fired)
			prev[name] = cur
		}
	}
	return rs, nil
}
