package eval

import (
	"fmt"
	"math"

	"github.com/snnconvert/snnconvert/ann"
	"github.com/snnconvert/snnconvert/eval/dataset"
)

// annBatch is how many samples go through the ANN executor at once: large
// enough to keep both workers busy, small enough that KeepAll buffers of a
// wide CNN stay in tens of megabytes.
const annBatch = 128

// annRunner runs one graph over a data set in batches.
type annRunner struct {
	g     *ann.Graph
	exec  *ann.Executor
	input ann.Value
	buf   *ann.Tensor
}

func newANNRunner(g *ann.Graph, keepAll bool) (*annRunner, error) {
	if len(g.Inputs) != 1 {
		return nil, fmt.Errorf("graph %q has %d inputs; eval feeds exactly one", g.Name, len(g.Inputs))
	}
	if len(g.Outputs) == 0 {
		return nil, fmt.Errorf("graph %q has no outputs", g.Name)
	}
	ex, err := ann.NewExecutor(g, ann.ExecOptions{KeepAll: keepAll})
	if err != nil {
		return nil, fmt.Errorf("graph %q: %w", g.Name, err)
	}
	return &annRunner{g: g, exec: ex, input: g.Inputs[0]}, nil
}

// run feeds samples [from, from+n) of set and returns every value the
// executor returns (owned by the executor until the next run).
func (a *annRunner) run(set *dataset.Set, from, n int) (map[string]*ann.Tensor, error) {
	per := ann.Numel(a.input.Shape)
	if set.SampleSize() != per {
		return nil, fmt.Errorf("data set %s has samples of shape %v (%d values); input %q of %q wants %v (%d values)",
			set.Name, set.Shape, set.SampleSize(), a.input.Name, a.g.Name, a.input.Shape, per)
	}
	if a.buf == nil || len(a.buf.Data) < n*per {
		a.buf = &ann.Tensor{Data: make([]float32, n*per)}
	}
	a.buf.Shape = append([]int{n}, a.input.Shape...)
	a.buf.Data = a.buf.Data[:n*per]
	if err := set.Batch(a.buf.Data, from, n); err != nil {
		return nil, err
	}
	out, err := a.exec.Run(map[string]*ann.Tensor{a.input.Name: a.buf})
	if err != nil {
		return nil, fmt.Errorf("ANN %q on %s[%d:%d]: %w", a.g.Name, set.Name, from, from+n, err)
	}
	return out, nil
}

// predictions reads the class of each sample from the graph's first output:
// the argmax of scores, or the value itself when the model ends in ArgMax
// (one number per sample).
func predictions(out *ann.Tensor, n int, dst []int) error {
	per := len(out.Data) / n
	switch {
	case per*n != len(out.Data) || per == 0:
		return fmt.Errorf("output of %d values does not split into %d samples", len(out.Data), n)
	case per == 1:
		for i := range n {
			v := out.Data[i]
			if v != float32(math.Round(float64(v))) || v < 0 {
				return fmt.Errorf("single-value output %v of sample %d is not a class index", v, i)
			}
			dst[i] = int(v)
		}
	default:
		for i := range n {
			dst[i] = argmax(out.Data[i*per : (i+1)*per])
		}
	}
	return nil
}

// annPredict runs g over all of set and returns one predicted class per sample.
func annPredict(g *ann.Graph, set *dataset.Set, progress func(int)) ([]int, error) {
	r, err := newANNRunner(g, false)
	if err != nil {
		return nil, err
	}
	preds := make([]int, set.Len())
	for from := 0; from < set.Len(); from += annBatch {
		n := min(annBatch, set.Len()-from)
		out, err := r.run(set, from, n)
		if err != nil {
			return nil, err
		}
		if err := predictions(out[g.Outputs[0]], n, preds[from:from+n]); err != nil {
			return nil, fmt.Errorf("ANN %q output %q: %w", g.Name, g.Outputs[0], err)
		}
		progress(n)
	}
	return preds, nil
}

// permuteSet returns set with every sample's axes permuted by perm
// (per-sample axes, as ann.Attrs.Perm): the SNN of a model whose input
// Transpose convert moved out takes its input channel-first.
func permuteSet(set *dataset.Set, perm []int) (*dataset.Set, error) {
	in := set.Shape
	if len(perm) != len(in) {
		return nil, fmt.Errorf("input permutation %v does not fit samples of shape %v", perm, in)
	}
	out := make([]int, len(in))
	for i, p := range perm {
		if p < 0 || p >= len(in) {
			return nil, fmt.Errorf("input permutation %v does not fit samples of shape %v", perm, in)
		}
		out[i] = in[p]
	}
	// Strides of the input, read in output-axis order.
	stride := make([]int, len(in))
	s := 1
	for i := len(in) - 1; i >= 0; i-- {
		stride[i] = s
		s *= in[i]
	}
	src := make([]int, len(in))
	for i, p := range perm {
		src[i] = stride[p]
	}
	per := set.SampleSize()
	x := make([]float32, len(set.X))
	idx := make([]int, len(out))
	for k := 0; k < set.Len(); k++ {
		from, to := set.X[k*per:(k+1)*per], x[k*per:(k+1)*per]
		clear(idx)
		for j := range to {
			off := 0
			for a, v := range idx {
				off += v * src[a]
			}
			to[j] = from[off]
			for a := len(idx) - 1; a >= 0; a-- {
				idx[a]++
				if idx[a] < out[a] {
					break
				}
				idx[a] = 0
			}
		}
	}
	return &dataset.Set{Name: set.Name, Shape: out, X: x, Labels: set.Labels, Classes: set.Classes}, nil
}
