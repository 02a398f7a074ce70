package importer

import (
	"fmt"
	"math"
)

// Constant folding: ops whose inputs are all known at import time are
// evaluated here, on full ONNX shapes (batch axis included). The ops are the
// ones exporters use to compute shapes and to massage weights.

// maxFolded bounds the elements of any constant computed at import time
// (ConstantOfShape or a broadcast could otherwise ask for gigabytes from a
// few bytes of model).
const maxFolded = 1 << 24

// maxFoldedTotal bounds the elements folded over a whole import, so that a
// small file cannot chain thousands of maximal folds: real models fold shape
// arithmetic and at most a few copies of their weights.
const maxFoldedTotal = 1 << 26

func strides(shape []int) []int {
	s := make([]int, len(shape))
	acc := 1
	for i := len(shape) - 1; i >= 0; i-- {
		s[i] = acc
		acc *= shape[i]
	}
	return s
}

func normAxis(axis, rank int) (int, error) {
	a := axis
	if a < 0 {
		a += rank
	}
	if a < 0 || a >= rank {
		return 0, fmt.Errorf("axis %d out of range for rank %d", axis, rank)
	}
	return a, nil
}

// take builds a new constant of shape out whose element at each position is
// c's element at index src(position).
func (c *constTensor) take(out []int, src func(idx []int) int) *constTensor {
	n := numelOf(out)
	if n > maxFolded {
		return &constTensor{shape: out, isInt: c.isInt}
	}
	r := &constTensor{shape: out, data: make([]float64, n), isInt: c.isInt}
	if c.batch != nil {
		r.batch = make([]bool, n)
	}
	idx := make([]int, len(out))
	for i := 0; i < n; i++ {
		j := src(idx)
		r.data[i] = c.data[j]
		if c.batch != nil {
			r.batch[i] = c.batch[j]
		}
		for d := len(out) - 1; d >= 0; d-- {
			idx[d]++
			if idx[d] < out[d] {
				break
			}
			idx[d] = 0
		}
	}
	return r
}

func (c *constTensor) withShape(shape []int) *constTensor {
	return &constTensor{shape: shape, data: c.data, isInt: c.isInt, batch: c.batch}
}

func foldGather(data, indices *constTensor, axis int) (*constTensor, error) {
	ax, err := normAxis(axis, len(data.shape))
	if err != nil {
		return nil, err
	}
	idx, err := indices.ints()
	if err != nil {
		return nil, fmt.Errorf("indices: %w", err)
	}
	if indices.hasBatch() {
		return nil, fmt.Errorf("indices depend on the batch size")
	}
	dim := data.shape[ax]
	for i, v := range idx {
		if v < 0 {
			v += dim
		}
		if v < 0 || v >= dim {
			return nil, fmt.Errorf("index %d out of range for axis %d of size %d", idx[i], ax, dim)
		}
		idx[i] = v
	}
	out := append(append(append([]int{}, data.shape[:ax]...), indices.shape...), data.shape[ax+1:]...)
	st := strides(data.shape)
	ir := len(indices.shape)
	istr := strides(indices.shape)
	return data.take(out, func(p []int) int {
		j := 0
		for d := 0; d < ax; d++ {
			j += p[d] * st[d]
		}
		k := 0
		for d := 0; d < ir; d++ {
			k += p[ax+d] * istr[d]
		}
		j += idx[k] * st[ax]
		for d := ax + 1; d < len(data.shape); d++ {
			j += p[d+ir-1] * st[d]
		}
		return j
	}), nil
}

// foldSlice implements ONNX Slice (opset 10+ semantics; older forms are
// converted by the caller) on a constant.
func foldSlice(data *constTensor, starts, ends, axes, steps []int) (*constTensor, error) {
	r := len(data.shape)
	if len(ends) != len(starts) {
		return nil, fmt.Errorf("starts %v and ends %v differ in length", starts, ends)
	}
	if axes == nil {
		for i := range starts {
			axes = append(axes, i)
		}
	}
	if steps == nil {
		for range starts {
			steps = append(steps, 1)
		}
	}
	if len(axes) != len(starts) || len(steps) != len(starts) {
		return nil, fmt.Errorf("starts, ends, axes and steps differ in length")
	}
	begin := make([]int, r)
	step := make([]int, r)
	out := append([]int{}, data.shape...)
	for i := range step {
		step[i] = 1
	}
	for i, a := range axes {
		ax, err := normAxis(a, r)
		if err != nil {
			return nil, err
		}
		dim := data.shape[ax]
		s, e, st := starts[i], ends[i], steps[i]
		if st == 0 {
			return nil, fmt.Errorf("slice step 0")
		}
		clamp := func(v, lo, hi int) int { return max(lo, min(hi, v)) }
		if s < 0 {
			s += dim
		}
		if e < 0 {
			e += dim
		}
		var n int
		switch {
		case dim == 0:
		case st > 0:
			s, e = clamp(s, 0, dim), clamp(e, 0, dim)
			n = max(0, (e-s+st-1)/st)
		default:
			s, e = clamp(s, 0, dim-1), clamp(e, -1, dim-1)
			n = max(0, (s-e-st-1)/(-st))
		}
		begin[ax], step[ax], out[ax] = s, st, n
	}
	st := strides(data.shape)
	return data.take(out, func(p []int) int {
		j := 0
		for d := range p {
			j += (begin[d] + p[d]*step[d]) * st[d]
		}
		return j
	}), nil
}

func foldConcat(parts []*constTensor, axis int) (*constTensor, error) {
	r := len(parts[0].shape)
	ax, err := normAxis(axis, r)
	if err != nil {
		return nil, err
	}
	out := append([]int{}, parts[0].shape...)
	out[ax] = 0
	res := &constTensor{isInt: parts[0].isInt}
	anyBatch := false
	for _, p := range parts {
		if len(p.shape) != r {
			return nil, fmt.Errorf("concat of ranks %d and %d", r, len(p.shape))
		}
		for d := range p.shape {
			if d != ax && p.shape[d] != parts[0].shape[d] {
				return nil, fmt.Errorf("concat of shapes %v and %v", parts[0].shape, p.shape)
			}
		}
		out[ax] += p.shape[ax]
		anyBatch = anyBatch || p.batch != nil
		res.isInt = res.isInt && p.isInt
	}
	outer := numelOf(out[:ax])
	res.shape = out
	for o := 0; o < outer; o++ {
		for _, p := range parts {
			inner := numelOf(p.shape[ax:])
			res.data = append(res.data, p.data[o*inner:(o+1)*inner]...)
			if anyBatch {
				if p.batch != nil {
					res.batch = append(res.batch, p.batch[o*inner:(o+1)*inner]...)
				} else {
					res.batch = append(res.batch, make([]bool, inner)...)
				}
			}
		}
	}
	return res, nil
}

func foldTranspose(c *constTensor, perm []int) (*constTensor, error) {
	r := len(c.shape)
	if perm == nil {
		for i := r - 1; i >= 0; i-- {
			perm = append(perm, i)
		}
	}
	if len(perm) != r {
		return nil, fmt.Errorf("perm %v for rank %d", perm, r)
	}
	seen := make([]bool, r)
	out := make([]int, r)
	for i, p := range perm {
		if p < 0 || p >= r || seen[p] {
			return nil, fmt.Errorf("perm %v is not a permutation", perm)
		}
		seen[p] = true
		out[i] = c.shape[p]
	}
	st := strides(c.shape)
	return c.take(out, func(idx []int) int {
		j := 0
		for i, p := range perm {
			j += idx[i] * st[p]
		}
		return j
	}), nil
}

// resolveReshape resolves ONNX Reshape's 0 and -1 entries against a full
// input shape.
func resolveReshape(in []int, target []int, allowZero bool) ([]int, error) {
	out := append([]int{}, target...)
	neg := -1
	known := 1
	for i, d := range out {
		switch {
		case d == 0 && !allowZero:
			if i >= len(in) {
				return nil, fmt.Errorf("shape %v copies axis %d of a rank-%d input", target, i, len(in))
			}
			out[i] = in[i]
		case d == -1:
			if neg >= 0 {
				return nil, fmt.Errorf("shape %v has more than one -1", target)
			}
			neg = i
			continue
		case d < 0:
			return nil, fmt.Errorf("shape %v has a negative dimension", target)
		}
		known *= out[i]
	}
	n := numelOf(in)
	if neg >= 0 {
		if known == 0 || n%known != 0 {
			return nil, fmt.Errorf("cannot reshape %v to %v", in, target)
		}
		out[neg] = n / known
	} else if known != n {
		return nil, fmt.Errorf("cannot reshape %v (%d elements) to %v", in, n, target)
	}
	return out, nil
}

// normAxes normalises and sorts a list of axes for a rank.
func normAxes(axes []int, rank int) ([]int, error) {
	seen := map[int]bool{}
	out := make([]int, 0, len(axes))
	for _, a := range axes {
		ax, err := normAxis(a, rank)
		if err != nil {
			return nil, err
		}
		if seen[ax] {
			return nil, fmt.Errorf("axis %d repeated in %v", a, axes)
		}
		seen[ax] = true
		out = append(out, ax)
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out, nil
}

// unsqueezeShape inserts 1s at axes (relative to the output rank).
func unsqueezeShape(in []int, axes []int) ([]int, error) {
	r := len(in) + len(axes)
	ax, err := normAxes(axes, r)
	if err != nil {
		return nil, err
	}
	out := make([]int, 0, r)
	k := 0
	for i := 0; i < r; i++ {
		if k < len(ax) && ax[k] == i {
			out = append(out, 1)
			k++
			continue
		}
		out = append(out, in[i-k])
	}
	return out, nil
}

// squeezeShape removes the given axes (all 1-dims when axes is nil).
func squeezeShape(in []int, axes []int) ([]int, error) {
	drop := map[int]bool{}
	if axes == nil {
		for i, d := range in {
			if d == 1 {
				drop[i] = true
			}
		}
	} else {
		ax, err := normAxes(axes, len(in))
		if err != nil {
			return nil, err
		}
		for _, a := range ax {
			if in[a] != 1 {
				return nil, fmt.Errorf("cannot squeeze axis %d of size %d", a, in[a])
			}
			drop[a] = true
		}
	}
	var out []int
	for i, d := range in {
		if !drop[i] {
			out = append(out, d)
		}
	}
	return out, nil
}

// foldElementwise applies a binary op with numpy broadcasting.
func foldElementwise(op string, a, b *constTensor) (*constTensor, error) {
	if a.hasBatch() || b.hasBatch() {
		return nil, fmt.Errorf("%s on a value that depends on the batch size", op)
	}
	r := max(len(a.shape), len(b.shape))
	out := make([]int, r)
	pa, pb := padShape(a.shape, r), padShape(b.shape, r)
	for i := range out {
		switch {
		case pa[i] == pb[i] || pb[i] == 1:
			out[i] = pa[i]
		case pa[i] == 1:
			out[i] = pb[i]
		default:
			return nil, fmt.Errorf("shapes %v and %v do not broadcast", a.shape, b.shape)
		}
	}
	sa, sb := bstrides(pa), bstrides(pb)
	n := numelOf(out)
	if n > maxFolded {
		return nil, fmt.Errorf("broadcast result %v is larger than %d elements", out, maxFolded)
	}
	res := &constTensor{shape: out, data: make([]float64, n), isInt: a.isInt && b.isInt}
	idx := make([]int, r)
	for i := 0; i < n; i++ {
		ja, jb := 0, 0
		for d := range idx {
			ja += idx[d] * sa[d]
			jb += idx[d] * sb[d]
		}
		x, y := a.data[ja], b.data[jb]
		var v float64
		switch op {
		case "Add":
			v = x + y
		case "Sub":
			v = x - y
		case "Mul":
			v = x * y
		case "Div":
			if res.isInt {
				if y == 0 {
					return nil, fmt.Errorf("integer division by zero")
				}
				v = math.Trunc(x / y)
			} else {
				v = float64(float32(x) / float32(y))
			}
		case "Min":
			v = math.Min(x, y)
		case "Max":
			v = math.Max(x, y)
		case "Pow":
			v = math.Pow(x, y)
		default:
			return nil, fmt.Errorf("cannot fold %s", op)
		}
		if !res.isInt {
			v = float64(float32(v))
		}
		res.data[i] = v
		for d := r - 1; d >= 0; d-- {
			idx[d]++
			if idx[d] < out[d] {
				break
			}
			idx[d] = 0
		}
	}
	return res, nil
}

func padShape(s []int, r int) []int {
	out := make([]int, r)
	for i := range out {
		out[i] = 1
	}
	copy(out[r-len(s):], s)
	return out
}

// bstrides are strides with 0 on broadcast (size-1) axes.
func bstrides(s []int) []int {
	st := strides(s)
	for i, d := range s {
		if d == 1 {
			st[i] = 0
		}
	}
	return st
}

func foldUnary(op string, c *constTensor) (*constTensor, error) {
	if c.hasBatch() {
		return nil, fmt.Errorf("%s on a value that depends on the batch size", op)
	}
	res := &constTensor{shape: c.shape, data: make([]float64, len(c.data)), isInt: c.isInt}
	for i, x := range c.data {
		var v float64
		switch op {
		case "Neg":
			v = -x
		case "Relu":
			v = math.Max(x, 0)
		case "Sqrt":
			v = math.Sqrt(x)
		case "Reciprocal":
			v = 1 / x
		case "Abs":
			v = math.Abs(x)
		case "Exp":
			v = math.Exp(x)
		case "Log":
			v = math.Log(x)
		case "Floor":
			v = math.Floor(x)
		case "Ceil":
			v = math.Ceil(x)
		default:
			return nil, fmt.Errorf("cannot fold %s", op)
		}
		if !res.isInt {
			v = float64(float32(v))
		}
		res.data[i] = v
	}
	return res, nil
}

// foldCast converts to an ONNX data type: float types round to float32,
// integer types truncate toward zero (onnxruntime's behaviour).
func foldCast(c *constTensor, to int32) (*constTensor, error) {
	res := &constTensor{shape: c.shape, data: make([]float64, len(c.data)), batch: c.batch}
	switch to {
	case dtFloat, dtDouble, dtFloat16, dtBfloat16:
		for i, v := range c.data {
			res.data[i] = float64(float32(v))
		}
	case dtInt8, dtUint8, dtInt16, dtUint16, dtInt32, dtUint32, dtInt64, dtUint64:
		res.isInt = true
		for i, v := range c.data {
			res.data[i] = math.Trunc(v)
		}
	case dtBool:
		res.isInt = true
		for i, v := range c.data {
			if v != 0 {
				res.data[i] = 1
			}
		}
	default:
		return nil, fmt.Errorf("cast to %s is not supported", dtypeName(to))
	}
	return res, nil
}
