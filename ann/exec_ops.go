package ann

import (
	"fmt"
	"math"
)

// operand is a node input: an activation slot, or a constant that every
// sample shares.
type operand struct {
	s *slot
	p []float32
}

// sample returns sample i of a worker's chunk starting at lo.
func (o operand) sample(lo, i int) []float32 {
	if o.s != nil {
		return o.s.sample(lo, i)
	}
	return o.p
}

func (c *core) operand(n *Node, i int) (operand, []int, error) {
	name := n.Inputs[i]
	if t, ok := c.g.Params[name]; ok {
		if len(t.Data) != Numel(t.Shape) {
			return operand{}, nil, fmt.Errorf("constant %q has %d values for shape %v", name, len(t.Data), t.Shape)
		}
		return operand{p: t.Data}, t.Shape, nil
	}
	s, ok := c.byName[name]
	if !ok {
		return operand{}, nil, fmt.Errorf("input %q is unknown", name)
	}
	return operand{s: s}, s.shape, nil
}

func (c *core) constant(n *Node, i int) ([]float32, error) {
	if i >= len(n.Inputs) || n.Inputs[i] == "" {
		return nil, nil
	}
	t, ok := c.g.Params[n.Inputs[i]]
	if !ok {
		return nil, fmt.Errorf("input %d %q must be a constant", i, n.Inputs[i])
	}
	if len(t.Data) != Numel(t.Shape) {
		return nil, fmt.Errorf("constant %q has %d values for shape %v", n.Inputs[i], len(t.Data), t.Shape)
	}
	return t.Data, nil
}

// compile turns a (shape-checked) node into its kernel.
func (c *core) compile(n *Node) (kernel, error) {
	x, xShape, err := c.operand(n, 0)
	if err != nil {
		return nil, err
	}
	if x.s == nil && n.Op != OpConcat && n.Op != OpAdd && n.Op != OpSub && n.Op != OpMul && n.Op != OpDiv {
		return nil, fmt.Errorf("input %q is a constant; the importer should have folded this node", n.Inputs[0])
	}
	y := c.byName[n.Outputs[0]]
	a := n.Attrs
	switch n.Op {
	case OpConv:
		wt := c.g.Params[n.Inputs[1]]
		w, _ := windowOf(n, wt.Shape[2], wt.Shape[3])
		b, err := c.constant(n, 2)
		if err != nil {
			return nil, err
		}
		k := &convKernel{x: x.s, y: y, w: wt.Data, bias: b, win: w,
			c: xShape[0], h: xShape[1], wd: xShape[2], o: y.shape[0], oh: y.shape[1], ow: y.shape[2]}
		k.kg = (k.c / w.group) * w.kh * w.kw
		return k, nil

	case OpDense:
		wt := c.g.Params[n.Inputs[1]]
		b, err := c.constant(n, 2)
		if err != nil {
			return nil, err
		}
		in, out := wt.Shape[1], wt.Shape[0]
		return &denseKernel{x: x.s, y: y, w: wt.Data, bias: b, in: in, out: out, rows: x.s.size / in}, nil

	case OpAdd, OpSub, OpMul, OpDiv:
		bOp, bShape, err := c.operand(n, 1)
		if err != nil {
			return nil, err
		}
		return &binaryKernel{op: n.Op, a: x, b: bOp, y: y,
			ia: broadcastIndex(y.shape, xShape), ib: broadcastIndex(y.shape, bShape)}, nil

	case OpRelu, OpClip, OpClippedRelu, OpLeakyRelu, OpSigmoid, OpTanh, OpSelu, OpLog:
		k := &unaryKernel{op: n.Op, x: x.s, y: y, alpha: a.Alpha, gamma: a.Gamma}
		switch n.Op {
		case OpRelu:
			k.lo, k.hi = 0, float32(math.Inf(1))
		case OpClip:
			k.lo, k.hi = a.Min, a.Max
		case OpClippedRelu:
			k.lo, k.hi = 0, a.Max
		}
		return k, nil

	case OpIdentity, OpDropout, OpCast, OpFlatten, OpReshape:
		k := &copyKernel{x: x.s, y: y}
		if len(n.Outputs) > 1 && n.Outputs[1] != "" {
			k.mask = c.byName[n.Outputs[1]]
		}
		return k, nil

	case OpMaxPool, OpAveragePool:
		w, _ := windowOf(n, a.Kernel[0], a.Kernel[1])
		return &poolKernel{avg: n.Op == OpAveragePool, x: x.s, y: y, win: w,
			c: xShape[0], h: xShape[1], wd: xShape[2], oh: y.shape[1], ow: y.shape[2]}, nil

	case OpGlobalAveragePool:
		return &gapKernel{x: x.s, y: y, c: xShape[0], inner: x.s.size / xShape[0]}, nil

	case OpBatchNorm, OpAffine:
		ch := xShape[0]
		k := &channelKernel{x: x.s, y: y, inner: x.s.size / ch, scale: make([]float32, ch), shift: make([]float32, ch)}
		var p [4][]float32
		for i := 1; i < len(n.Inputs); i++ {
			if p[i-1], err = c.constant(n, i); err != nil {
				return nil, err
			}
		}
		for i := range ch {
			if n.Op == OpAffine {
				k.scale[i], k.shift[i] = p[0][i], p[1][i]
				continue
			}
			// Folded in float64 so the per-channel factor carries no extra rounding.
			s := float64(p[0][i]) / math.Sqrt(float64(p[3][i])+float64(a.Epsilon))
			k.scale[i] = float32(s)
			k.shift[i] = float32(float64(p[1][i]) - float64(p[2][i])*s)
		}
		return k, nil

	case OpTranspose:
		perm, _ := permOf(a.Perm, len(xShape))
		return &gatherKernel{x: x.s, y: y, idx: transposeIndex(xShape, perm)}, nil

	case OpPad:
		return &gatherKernel{x: x.s, y: y, idx: padIndex(xShape, a.Pads), value: a.Value}, nil

	case OpConcat:
		ax, _ := normAxis(a.Axis, len(xShape))
		k := &concatKernel{y: y, outer: Numel(y.shape[:ax])}
		for i := range n.Inputs {
			op, sh, err := c.operand(n, i)
			if err != nil {
				return nil, err
			}
			k.in = append(k.in, op)
			k.block = append(k.block, Numel(sh[ax:]))
		}
		return k, nil

	case OpSoftmax, OpLogSoftmax, OpArgMax:
		ax, _ := normAxis(a.Axis, len(xShape))
		return &axisKernel{op: n.Op, x: x.s, y: y, outer: Numel(xShape[:ax]), axis: xShape[ax], inner: Numel(xShape[ax+1:])}, nil
	}
	return nil, fmt.Errorf("unknown op %q", n.Op)
}

// broadcastIndex maps every element of out to its source element in an
// operand of shape in (numpy broadcasting); nil when no mapping is needed.
func broadcastIndex(out, in []int) []int32 {
	if len(out) == len(in) {
		same := true
		for i := range out {
			same = same && out[i] == in[i]
		}
		if same {
			return nil
		}
	}
	strides := make([]int, len(out))
	st := 1
	for i := len(in) - 1; i >= 0; i-- {
		j := i + len(out) - len(in)
		if in[i] != 1 {
			strides[j] = st
		}
		st *= in[i]
	}
	return walkIndex(out, strides, nil)
}

// walkIndex lists Σ coord[d]·strides[d] for every coordinate of shape in
// row-major order; coordinates that valid rejects map to -1.
func walkIndex(shape, strides []int, valid func(d, c int) bool) []int32 {
	idx := make([]int32, Numel(shape))
	coord := make([]int, len(shape))
	for i := range idx {
		off, ok := 0, true
		for d, c := range coord {
			if valid != nil && !valid(d, c) {
				ok = false
			}
			off += c * strides[d]
		}
		if ok {
			idx[i] = int32(off)
		} else {
			idx[i] = -1
		}
		for d := len(coord) - 1; d >= 0; d-- {
			coord[d]++
			if coord[d] < shape[d] {
				break
			}
			coord[d] = 0
		}
	}
	return idx
}

func rowStrides(shape []int) []int {
	s := make([]int, len(shape))
	st := 1
	for i := len(shape) - 1; i >= 0; i-- {
		s[i] = st
		st *= shape[i]
	}
	return s
}

func transposeIndex(in, perm []int) []int32 {
	inStr := rowStrides(in)
	out := make([]int, len(perm))
	str := make([]int, len(perm))
	for d, p := range perm {
		out[d] = in[p]
		str[d] = inStr[p]
	}
	return walkIndex(out, str, nil)
}

func padIndex(in, pads []int) []int32 {
	r := len(in)
	out := make([]int, r)
	for d := range in {
		out[d] = in[d] + pads[d] + pads[d+r]
	}
	inStr := rowStrides(in)
	// Shift every coordinate by its begin pad: walkIndex adds coord·stride, so
	// the constant −Σ begin·stride is applied after.
	base := 0
	for d := range in {
		base += pads[d] * inStr[d]
	}
	idx := walkIndex(out, inStr, func(d, c int) bool { c -= pads[d]; return c >= 0 && c < in[d] })
	for i, v := range idx {
		if v >= 0 {
			idx[i] = v - int32(base)
		}
	}
	return idx
}

type convKernel struct {
	x, y      *slot
	w, bias   []float32
	win       window
	c, h, wd  int
	o, oh, ow int
	kg        int // patch length per group: C/group·KH·KW
}

func (k *convKernel) scratchSize() int { return k.oh * k.ow * k.kg }

func (k *convKernel) run(s *scratch, lo, hi int) {
	g := k.win.group
	cg, og, p := k.c/g, k.o/g, k.oh*k.ow
	cols := s.cols[:p*k.kg]
	for i := lo; i < hi; i++ {
		x, y := k.x.sample(lo, i), k.y.sample(lo, i)
		for gi := range g {
			k.im2col(cols, x[gi*cg*k.h*k.wd:(gi+1)*cg*k.h*k.wd], cg)
			var b []float32
			if k.bias != nil {
				b = k.bias[gi*og : (gi+1)*og]
			}
			// Pixels as rows (many) and channels as columns (few) fill the
			// 4×2 register tile best; the store transposes back to planes.
			gemmNT(p, og, k.kg, cols, k.kg, k.w[gi*og*k.kg:], k.kg, y[gi*og*p:], 1, p, nil, b)
		}
	}
}

// im2col writes, for every output pixel, its receptive field (cg channels ×
// KH × KW, zero where it falls on padding) as one contiguous row.
func (k *convKernel) im2col(cols, x []float32, cg int) {
	w := k.win
	i := 0
	for oy := range k.oh {
		for ox := range k.ow {
			y0, x0 := oy*w.sh-w.pt, ox*w.sw-w.pl
			for ci := range cg {
				plane := x[ci*k.h*k.wd : (ci+1)*k.h*k.wd]
				for ky := range w.kh {
					iy := y0 + ky*w.dh
					if iy < 0 || iy >= k.h {
						clear(cols[i : i+w.kw])
						i += w.kw
						continue
					}
					row := plane[iy*k.wd : (iy+1)*k.wd]
					for kx := range w.kw {
						ix := x0 + kx*w.dw
						if ix >= 0 && ix < k.wd {
							cols[i] = row[ix]
						} else {
							cols[i] = 0
						}
						i++
					}
				}
			}
		}
	}
}

type denseKernel struct {
	x, y          *slot
	w, bias       []float32
	in, out, rows int
}

func (k *denseKernel) run(_ *scratch, lo, hi int) {
	m := (hi - lo) * k.rows
	gemmNT(m, k.out, k.in, k.x.chunk(lo, hi), k.in, k.w, k.in, k.y.chunk(lo, hi), k.out, 1, nil, k.bias)
}

type binaryKernel struct {
	op     Op
	a, b   operand
	y      *slot
	ia, ib []int32
}

func (k *binaryKernel) run(_ *scratch, lo, hi int) {
	for i := lo; i < hi; i++ {
		a, b, y := k.a.sample(lo, i), k.b.sample(lo, i), k.y.sample(lo, i)
		if k.ia == nil && k.ib == nil {
			binarySame(k.op, y, a[:len(y)], b[:len(y)])
			continue
		}
		for j := range y {
			var av, bv float32
			if k.ia != nil {
				av = a[k.ia[j]]
			} else {
				av = a[j]
			}
			if k.ib != nil {
				bv = b[k.ib[j]]
			} else {
				bv = b[j]
			}
			y[j] = binop(k.op, av, bv)
		}
	}
}

func binarySame(op Op, y, a, b []float32) {
	switch op {
	case OpAdd:
		for j := range y {
			y[j] = a[j] + b[j]
		}
	case OpSub:
		for j := range y {
			y[j] = a[j] - b[j]
		}
	case OpMul:
		for j := range y {
			y[j] = a[j] * b[j]
		}
	case OpDiv:
		for j := range y {
			y[j] = a[j] / b[j]
		}
	}
}

func binop(op Op, a, b float32) float32 {
	switch op {
	case OpAdd:
		return a + b
	case OpSub:
		return a - b
	case OpMul:
		return a * b
	default:
		return a / b
	}
}

type unaryKernel struct {
	op           Op
	x, y         *slot
	lo, hi       float32 // clamp bounds for Relu, Clip, ClippedRelu
	alpha, gamma float32
}

func (k *unaryKernel) run(_ *scratch, lo, hi int) {
	x, y := k.x.chunk(lo, hi), k.y.chunk(lo, hi)
	y = y[:len(x)]
	switch k.op {
	case OpRelu, OpClip, OpClippedRelu:
		for i, v := range x {
			// NaN passes through, as in onnxruntime.
			if v < k.lo {
				v = k.lo
			}
			if v > k.hi {
				v = k.hi
			}
			y[i] = v
		}
	case OpLeakyRelu:
		for i, v := range x {
			if v < 0 {
				v *= k.alpha
			}
			y[i] = v
		}
	case OpSigmoid:
		for i, v := range x {
			y[i] = float32(1 / (1 + math.Exp(-float64(v))))
		}
	case OpTanh:
		for i, v := range x {
			y[i] = float32(math.Tanh(float64(v)))
		}
	case OpSelu:
		for i, v := range x {
			if v > 0 {
				y[i] = k.gamma * v
			} else {
				y[i] = float32(float64(k.gamma) * float64(k.alpha) * math.Expm1(float64(v)))
			}
		}
	case OpLog:
		for i, v := range x {
			y[i] = float32(math.Log(float64(v)))
		}
	}
}

type copyKernel struct {
	x, y *slot
	mask *slot // Dropout's optional mask output: all ones at inference
}

func (k *copyKernel) run(_ *scratch, lo, hi int) {
	copy(k.y.chunk(lo, hi), k.x.chunk(lo, hi))
	if k.mask != nil {
		m := k.mask.chunk(lo, hi)
		for i := range m {
			m[i] = 1
		}
	}
}

type poolKernel struct {
	avg      bool
	x, y     *slot
	win      window
	c, h, wd int
	oh, ow   int
}

func (k *poolKernel) run(_ *scratch, lo, hi int) {
	w := k.win
	for i := lo; i < hi; i++ {
		x, y := k.x.sample(lo, i), k.y.sample(lo, i)
		o := 0
		for ci := range k.c {
			plane := x[ci*k.h*k.wd : (ci+1)*k.h*k.wd]
			for oy := range k.oh {
				y0 := oy*w.sh - w.pt
				for ox := range k.ow {
					x0 := ox*w.sw - w.pl
					if k.avg {
						y[o] = k.average(plane, y0, x0)
					} else {
						y[o] = k.maximum(plane, y0, x0)
					}
					o++
				}
			}
		}
	}
}

// maximum treats padding as −Inf, i.e. ignores it.
func (k *poolKernel) maximum(plane []float32, y0, x0 int) float32 {
	w := k.win
	m := float32(math.Inf(-1))
	for ky := range w.kh {
		iy := y0 + ky*w.dh
		if iy < 0 || iy >= k.h {
			continue
		}
		row := plane[iy*k.wd : (iy+1)*k.wd]
		for kx := range w.kw {
			ix := x0 + kx*w.dw
			if ix >= 0 && ix < k.wd && row[ix] > m {
				m = row[ix]
			}
		}
	}
	return m
}

// average divides by the number of taps inside the input, or with
// count_include_pad by the taps inside the padded input: taps that ceil_mode
// pushes past the end padding never count (onnxruntime and PyTorch agree).
func (k *poolKernel) average(plane []float32, y0, x0 int) float32 {
	w := k.win
	var sum float32
	ny, nx, py, px := 0, 0, 0, 0
	for ky := range w.kh {
		iy := y0 + ky*w.dh
		if iy < k.h+w.pb {
			py++
		}
		if iy >= 0 && iy < k.h {
			ny++
		}
	}
	for kx := range w.kw {
		ix := x0 + kx*w.dw
		if ix < k.wd+w.pr {
			px++
		}
		if ix >= 0 && ix < k.wd {
			nx++
		}
	}
	for ky := range w.kh {
		iy := y0 + ky*w.dh
		if iy < 0 || iy >= k.h {
			continue
		}
		row := plane[iy*k.wd : (iy+1)*k.wd]
		for kx := range w.kw {
			ix := x0 + kx*w.dw
			if ix >= 0 && ix < k.wd {
				sum += row[ix]
			}
		}
	}
	div := ny * nx
	if w.includePad {
		div = py * px
	}
	if div == 0 {
		return 0
	}
	return sum / float32(div)
}

type gapKernel struct {
	x, y     *slot
	c, inner int
}

func (k *gapKernel) run(_ *scratch, lo, hi int) {
	x, y := k.x.chunk(lo, hi), k.y.chunk(lo, hi)
	for r := range y {
		var s float64
		for _, v := range x[r*k.inner : (r+1)*k.inner] {
			s += float64(v)
		}
		y[r] = float32(s / float64(k.inner))
	}
}

// channelKernel is y = scale[c]·x + shift[c] over axis 0 (BatchNorm, Affine).
type channelKernel struct {
	x, y         *slot
	inner        int
	scale, shift []float32
}

func (k *channelKernel) run(_ *scratch, lo, hi int) {
	x, y := k.x.chunk(lo, hi), k.y.chunk(lo, hi)
	ch := len(k.scale)
	for r := 0; r < len(x); r += k.inner {
		c := (r / k.inner) % ch
		a, b := k.scale[c], k.shift[c]
		xs, ys := x[r:r+k.inner], y[r:r+k.inner]
		for i, v := range xs {
			ys[i] = a*v + b
		}
	}
}

// gatherKernel is y[i] = x[idx[i]], or value where idx[i] < 0 (Transpose, Pad).
type gatherKernel struct {
	x, y  *slot
	idx   []int32
	value float32
}

func (k *gatherKernel) run(_ *scratch, lo, hi int) {
	for i := lo; i < hi; i++ {
		x, y := k.x.sample(lo, i), k.y.sample(lo, i)
		for j, src := range k.idx[:len(y)] {
			if src < 0 {
				y[j] = k.value
			} else {
				y[j] = x[src]
			}
		}
	}
}

type concatKernel struct {
	in    []operand
	block []int // per input: elements per outer step
	y     *slot
	outer int
}

func (k *concatKernel) run(_ *scratch, lo, hi int) {
	for i := lo; i < hi; i++ {
		y := k.y.sample(lo, i)
		o := 0
		for r := range k.outer {
			for j, in := range k.in {
				b := k.block[j]
				o += copy(y[o:], in.sample(lo, i)[r*b:(r+1)*b])
			}
		}
	}
}

// axisKernel reduces or normalizes along one per-sample axis (Softmax,
// LogSoftmax, ArgMax), viewing each sample as [outer, axis, inner].
type axisKernel struct {
	op                 Op
	x, y               *slot
	outer, axis, inner int
}

func (k *axisKernel) run(_ *scratch, lo, hi int) {
	for i := lo; i < hi; i++ {
		x, y := k.x.sample(lo, i), k.y.sample(lo, i)
		for o := range k.outer {
			for in := range k.inner {
				base := o*k.axis*k.inner + in
				if k.op == OpArgMax {
					// First maximum wins (select_last_index = 0).
					best, bi := x[base], 0
					for a := 1; a < k.axis; a++ {
						if v := x[base+a*k.inner]; v > best {
							best, bi = v, a
						}
					}
					y[o*k.inner+in] = float32(bi)
					continue
				}
				m := x[base]
				for a := 1; a < k.axis; a++ {
					m = max(m, x[base+a*k.inner])
				}
				var sum float64
				for a := range k.axis {
					sum += math.Exp(float64(x[base+a*k.inner] - m))
				}
				for a := range k.axis {
					j := base + a*k.inner
					d := float64(x[j] - m)
					if k.op == OpSoftmax {
						y[j] = float32(math.Exp(d) / sum)
					} else {
						y[j] = float32(d - math.Log(sum))
					}
				}
			}
		}
	}
}
