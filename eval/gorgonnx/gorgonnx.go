// Package gorgonnx is the independent reference for a source model: it runs
// the original ONNX bytes through onnx-go's gorgonnx backend (gorgonia), with
// none of our importer or ann code involved, so that agreement between the
// two is evidence that importer+ann execute the model as written.
//
// In: the ONNX file's bytes and a batch [N, per-sample...] of float32 inputs
// for the model's first graph input.
// Out: the model's first graph output as an [N, ...] ann.Tensor, or an error
// wrapping ErrUnsupported (with the reason) when the backend cannot run the
// model, so that callers fall back to ann alone.
//
// Traps of onnx-go v0.5.0 / gorgonia v0.9.18 handled here, all measured:
//   - At batch 1 every Gemm writes its result into its own bias tensor (the
//     bias's backing array has exactly M·N elements and is reused as the
//     output), so only the first run after decoding is correct. Every batch
//     is therefore run on a freshly decoded graph.
//   - gorgonnx lacks Pad, AveragePool, Shape, Gather, Clip, Slice, Cast, grouped
//     Conv, Gemm without C and the opset-13 Unsqueeze/Squeeze (axes as an
//     input); Supported finds these with a wire-level scan of the protobuf
//     before gorgonia ever sees the model.
//   - gorgonnx's Min and Max return a typed nil error for any broadcast
//     failure other than "not implemented", e.g. against a 0-d constant;
//     [1]-shaped constants broadcast.
//   - gorgonia panics instead of returning errors in places; every call into
//     it is wrapped with recover and the panic becomes an error.
//
// Where an exact rewrite into ops gorgonnx has exists, it is applied to the
// ONNX bytes first (rewrite.go; written from the ONNX operator definitions,
// independent of package convert), and Supported's reason names each node
// rewritten and how:
//   - Pad in constant mode with every pad zero (PyTorch emits one in front of
//     AvgPool2d) → Identity.
//   - AveragePool with a 2-D kernel, no padding and ceil_mode 0 → Conv with
//     weight W[c,c,:,:] = 1/(kh·kw) and 0 across channels, no bias; the
//     channel count is read from the Conv (or graph input) that feeds the
//     pool through channel-preserving ops. Each output is the window sum
//     times 1/(kh·kw): the window mean up to float32 rounding of the sum.
//   - Clip(x, lo, hi) with constant bounds (input or attribute form) →
//     Max(x, lo) then Min(·, hi), the ONNX definition of Clip; gorgonnx
//     computes both as x·s + y·(1−s) with s ∈ {0, 1}, exact for finite x.
//
// Anything else gorgonnx lacks (a non-zero Pad, a padded or ceil_mode
// AveragePool, ...) is reported as unsupported with why no rewrite applied.
//
// gorgonia is kept behind this package: nothing else in the module imports it.
package gorgonnx

import (
	"errors"
	"fmt"
	"slices"

	onnx "github.com/owulveryck/onnx-go"
	"github.com/owulveryck/onnx-go/backend/x/gorgonnx"
	_ "go4.org/unsafe/assume-no-moving-gc" // gorgonia's unsafe tricks refuse to start on Go ≥ 1.21 without it
	"gorgonia.org/tensor"

	"github.com/snnconvert/snnconvert/ann"
)

// ErrUnsupported marks a model the gorgonnx backend cannot run.
var ErrUnsupported = errors.New("gorgonnx backend cannot run this model")

// maxChunk bounds the samples fed in one decoded graph when the model's batch
// axis is free: gorgonia materialises every intermediate of the chunk.
const maxChunk = 256

// supportedOps are the ONNX ops gorgonnx v0.5.0 registers (its register
// calls); conditions on their attributes and inputs are checked in problems.
var supportedOps = map[string]bool{
	"Abs": true, "Add": true, "BatchNormalization": true, "Ceil": true, "Concat": true,
	"Constant": true, "Conv": true, "Cos": true, "Cube": true, "Div": true, "Dropout": true,
	"Exp": true, "Expm1": true, "Flatten": true, "Floor": true, "Gemm": true,
	"GlobalAveragePool": true, "Identity": true, "ImageScaler": true, "Inverse": true,
	"LeakyRelu": true, "Log": true, "Log1p": true, "Log2": true, "MatMul": true, "Max": true,
	"MaxPool": true, "Min": true, "Mul": true, "Neg": true, "Relu": true, "Reshape": true,
	"Sigmoid": true, "Sign": true, "Sin": true, "Softmax": true, "Softplus": true, "Sqrt": true,
	"Square": true, "Squeeze": true, "Sub": true, "Tanh": true, "Transpose": true, "Unsqueeze": true,
}

// Supported reports whether the gorgonnx backend can run the model, and if
// not, every reason found (one per offending node or input). A model that
// runs only after rewrites (see the package doc) is supported with a reason
// that lists each rewrite.
func Supported(model []byte) (bool, string) {
	rw, err := rewrite(model)
	if err != nil {
		return false, err.Error()
	}
	model = rw.model
	info, err := scan(model)
	if err != nil {
		return false, err.Error()
	}
	reasons := info.problems()
	if len(reasons) > 0 {
		return false, joinReasons(append(reasons, rw.refused...))
	}
	// A trial run on zeros catches what the scan cannot see: tensor encodings
	// onnx-go fails to read, and the shape combinations gorgonnx refuses while
	// building its graph (broadcasts it has not implemented, MatMul shapes).
	if _, _, err := decode(model); err != nil {
		return false, err.Error()
	}
	if sample, batch, ok := info.input.concrete(); ok {
		if _, err := runChunk(model, append([]int{batch}, sample...), make([]float32, batch*ann.Numel(sample))); err != nil {
			return false, err.Error()
		}
	}
	if len(rw.applied) > 0 {
		return true, "rewritten for gorgonnx: " + joinReasons(rw.applied)
	}
	return true, ""
}

func joinReasons(r []string) string {
	s := r[0]
	for _, x := range r[1:] {
		s += "; " + x
	}
	return s
}

func (m *modelInfo) problems() []string {
	var out []string
	if m.input == nil {
		out = append(out, "the graph has no input that is not an initializer")
	} else if m.input.elemType != elemFloat {
		out = append(out, fmt.Sprintf("input %q has element type %s; gorgonnx is fed float32 only", m.input.name, elemName(m.input.elemType)))
	}
	if m.extraInputs > 0 {
		out = append(out, fmt.Sprintf("the graph has %d inputs besides %q; only single-input models are run", m.extraInputs, m.input.name))
	}
	opset := m.opsets[""]
	for _, n := range m.nodes {
		where := fmt.Sprintf("node %q (%s)", n.name, n.op)
		switch {
		case n.domain != "" && n.domain != "ai.onnx":
			out = append(out, fmt.Sprintf("%s: custom domain %q", where, n.domain))
		case !supportedOps[n.op]:
			out = append(out, fmt.Sprintf("%s: op not implemented by gorgonnx", where))
		case n.op == "Conv" && n.group > 1:
			out = append(out, fmt.Sprintf("%s: grouped Conv (group=%d) not implemented by gorgonnx", where, n.group))
		case n.op == "Gemm" && (len(n.inputs) < 3 || n.inputs[2] == ""):
			out = append(out, fmt.Sprintf("%s: Gemm without C not implemented by gorgonnx", where))
		case (n.op == "Unsqueeze" || n.op == "Squeeze") && opset >= 13:
			out = append(out, fmt.Sprintf("%s: opset-%d %s takes axes as an input; gorgonnx reads only the attribute form", where, opset, n.op))
		case n.op == "MaxPool" && n.attrs["dilations"]:
			out = append(out, fmt.Sprintf("%s: gorgonnx refuses any dilations attribute on MaxPool", where))
		case n.op == "Reshape" && len(n.inputs) == 2:
			shape, ok := m.ints[n.inputs[1]]
			switch {
			case !ok:
				out = append(out, fmt.Sprintf("%s: target shape %q is computed; gorgonnx needs a constant", where, n.inputs[1]))
			case slices.Contains(shape, -1):
				// gorgonnx resolves −1 from the leading len(shape) input dims
				// divided by a product that includes the −1: depending on the
				// batch the shape comes out wrong, and gorgonia then panics in
				// its VM goroutine, out of reach of recover.
				out = append(out, fmt.Sprintf("%s: target shape %v has a -1, which gorgonnx resolves from the wrong dimensions", where, shape))
			}
		case (n.op == "Max" || n.op == "Min") && len(n.inputs) != 2:
			out = append(out, fmt.Sprintf("%s: %d operands; gorgonnx takes exactly 2", where, len(n.inputs)))
		}
	}
	return out
}

// decode builds a fresh gorgonnx graph from the model bytes.
func decode(model []byte) (g *gorgonnx.Graph, m *onnx.Model, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: onnx-go panicked while decoding: %v", ErrUnsupported, r)
		}
	}()
	g = gorgonnx.NewGraph()
	m = onnx.NewModel(g)
	if err := m.UnmarshalBinary(model); err != nil {
		return nil, nil, fmt.Errorf("%w: onnx-go cannot decode the model: %v", ErrUnsupported, err)
	}
	if len(m.Input) == 0 || len(m.Output) == 0 {
		return nil, nil, fmt.Errorf("%w: onnx-go found %d inputs and %d outputs", ErrUnsupported, len(m.Input), len(m.Output))
	}
	return g, m, nil
}

// Run executes the model on x ([N, per-sample...]; the per-sample part must
// hold as many values as the model's input, whose declared shape is used)
// and returns the first graph output as [N, ...]. Batches are fed in chunks
// (the model's fixed batch size when it has one, the last chunk zero-padded),
// each on a freshly decoded graph.
func Run(model []byte, x *ann.Tensor) (*ann.Tensor, error) {
	rw, err := rewrite(model)
	if err != nil {
		return nil, err
	}
	model = rw.model
	info, err := scan(model)
	if err != nil {
		return nil, err
	}
	if p := info.problems(); len(p) > 0 {
		return nil, fmt.Errorf("%w: %s", ErrUnsupported, joinReasons(append(p, rw.refused...)))
	}
	if x == nil || len(x.Shape) < 1 || x.Shape[0] < 1 {
		return nil, errors.New("gorgonnx: input must be a non-empty [N, ...] batch")
	}
	n := x.Shape[0]
	per := ann.Numel(x.Shape[1:])
	if len(x.Data) != n*per {
		return nil, fmt.Errorf("gorgonnx: input shape %v needs %d values, has %d", x.Shape, n*per, len(x.Data))
	}
	sample, fixed, err := info.input.sampleShape(x.Shape[1:])
	if err != nil {
		return nil, err
	}
	chunk := fixed
	if chunk == 0 {
		chunk = min(n, maxChunk)
	}
	var out *ann.Tensor
	buf := make([]float32, chunk*per)
	for lo := 0; lo < n; lo += chunk {
		hi := min(lo+chunk, n)
		clear(buf)
		copy(buf, x.Data[lo*per:hi*per])
		shape := append([]int{chunk}, sample...)
		y, err := runChunk(model, shape, buf)
		if err != nil {
			return nil, fmt.Errorf("gorgonnx: samples [%d, %d): %w", lo, hi, err)
		}
		ys := y.Shape()
		if len(ys) == 0 || ys[0] != chunk {
			return nil, fmt.Errorf("gorgonnx: output shape %v has no batch axis of %d", ys, chunk)
		}
		data, ok := y.Data().([]float32)
		if !ok {
			return nil, fmt.Errorf("gorgonnx: output is %T, want []float32", y.Data())
		}
		outPer := len(data) / chunk
		if out == nil {
			out = ann.NewTensor(append([]int{n}, ys[1:]...)...)
		} else if !slices.Equal(out.Shape[1:], []int(ys[1:])) {
			return nil, fmt.Errorf("gorgonnx: output shape changed between chunks: %v then %v", out.Shape[1:], ys[1:])
		}
		copy(out.Data[lo*outPer:hi*outPer], data[:(hi-lo)*outPer])
	}
	return out, nil
}

// runChunk decodes the model afresh (see the Gemm trap in the package doc),
// feeds one batch and returns a copy of the first output.
func runChunk(model []byte, shape []int, data []float32) (out tensor.Tensor, err error) {
	g, m, err := decode(model)
	if err != nil {
		return nil, err
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: gorgonia panicked: %v", ErrUnsupported, r)
		}
	}()
	in := tensor.New(tensor.WithShape(shape...), tensor.WithBacking(slices.Clone(data)))
	if err := m.SetInput(0, in); err != nil {
		return nil, fmt.Errorf("setting the input: %w", err)
	}
	if err := g.Run(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnsupported, err)
	}
	outs, err := m.GetOutputTensors()
	if err != nil {
		return nil, err
	}
	if len(outs) == 0 || outs[0] == nil {
		return nil, errors.New("the model produced no output")
	}
	return outs[0].Clone().(tensor.Tensor), nil
}
