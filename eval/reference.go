package eval

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"

	"github.com/snnconvert/snnconvert/ann"
	"github.com/snnconvert/snnconvert/eval/dataset"
	"github.com/snnconvert/snnconvert/eval/gorgonnx"
)

// refSamples bounds the reference check: gorgonia decodes the model afresh
// for every batch and is far slower than ann, and a thousand samples already
// exercise every kernel on real data.
const refSamples = 1000

// refTolerance is the largest output difference, relative to the largest
// output magnitude, that still counts as agreement: float32 kernels that sum
// in a different order differ by a few ulps per layer, not more.
const refTolerance = 1e-4

// referenceCheck runs the source model through gorgonia (eval/gorgonnx) and
// compares its output with the ann executor's on the first samples of set.
func referenceCheck(ctx context.Context, path string, g *ann.Graph, set *dataset.Set, prog Progress) *RefCheck {
	rc := &RefCheck{Backend: "gorgonia"}
	model, err := os.ReadFile(path)
	if err != nil {
		rc.Note = err.Error()
		return rc
	}
	ok, why := gorgonnx.Supported(model)
	if !ok {
		rc.Note = why
		return rc
	}
	n := min(refSamples, set.Len())
	prog.Stage("reference (gorgonia)", n)
	defer prog.Done()
	r, err := newANNRunner(g, false)
	if err != nil {
		rc.Note = err.Error()
		return rc
	}
	var maxDiff, maxAbs float64
	samePred := true
	for from := 0; from < n; from += annBatch {
		if ctx.Err() != nil {
			rc.Note = ctx.Err().Error()
			return rc
		}
		k := min(annBatch, n-from)
		out, err := r.run(set, from, k)
		if err != nil {
			rc.Note = err.Error()
			return rc
		}
		want := out[g.Outputs[0]]
		x := &ann.Tensor{Shape: append([]int{k}, g.Inputs[0].Shape...), Data: make([]float32, k*set.SampleSize())}
		if err := set.Batch(x.Data, from, k); err != nil {
			rc.Note = err.Error()
			return rc
		}
		got, err := gorgonnx.Run(model, x)
		if err != nil {
			if errors.Is(err, gorgonnx.ErrUnsupported) {
				rc.Note = err.Error()
				return rc
			}
			rc.Supported = true
			rc.Note = "gorgonia failed: " + err.Error()
			return rc
		}
		if len(got.Data) != len(want.Data) {
			rc.Supported = true
			rc.Note = fmt.Sprintf("gorgonia returned %d values, ann %d", len(got.Data), len(want.Data))
			return rc
		}
		pg, pw := make([]int, k), make([]int, k)
		if predictions(got, k, pg) != nil || predictions(want, k, pw) != nil {
			samePred = false
		}
		for i := range pg {
			if pg[i] != pw[i] {
				samePred = false
			}
		}
		for i, v := range want.Data {
			maxAbs = math.Max(maxAbs, math.Abs(float64(v)))
			maxDiff = math.Max(maxDiff, math.Abs(float64(v-got.Data[i])))
		}
		rc.Samples += k
		prog.Add(k)
	}
	rc.Supported = true
	rc.MaxAbsDiff = maxDiff
	rc.Agree = samePred && maxDiff <= refTolerance*math.Max(1, maxAbs)
	rc.Note = fmt.Sprintf("agree = same predictions and max |diff| ≤ %.3g (%g of the largest output)",
		refTolerance*math.Max(1, maxAbs), refTolerance)
	if why != "" {
		// The rewrites gorgonia needed belong in the report: they are part of
		// what the reference checked.
		rc.Note += "; " + why
	}
	return rc
}
