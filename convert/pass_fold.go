package convert

import (
	"fmt"
	"math"
	"slices"

	"github.com/snnconvert/snnconvert/ann"
	"github.com/snnconvert/snnconvert/snnrt"
)

// affineOf reads an elementwise op with one constant operand as a
// per-channel affine map y = s·x + t of its activation operand x.
func affineOf(g *ann.Graph, n *ann.Node) (x string, s, t []float32, ok bool) {
	switch n.Op {
	case ann.OpAdd, ann.OpSub, ann.OpMul, ann.OpDiv:
	default:
		return "", nil, nil, false
	}
	if len(n.Inputs) != 2 {
		return "", nil, nil, false
	}
	a, b := n.Inputs[0], n.Inputs[1]
	constFirst := g.IsParam(a) && !g.IsParam(b)
	if constFirst {
		a, b = b, a
	} else if !g.IsParam(b) || g.IsParam(a) {
		return "", nil, nil, false
	}
	shape := g.Shapes[a]
	if !slices.Equal(shape, g.Shapes[n.Outputs[0]]) {
		return "", nil, nil, false // the constant broadcasts the activation up
	}
	cv, ok := channelVector(g.Params[b], shape)
	if !ok {
		return "", nil, nil, false
	}
	s, t = make([]float32, len(cv)), make([]float32, len(cv))
	for i, v := range cv {
		switch {
		case n.Op == ann.OpAdd:
			s[i], t[i] = 1, v
		case n.Op == ann.OpSub && !constFirst:
			s[i], t[i] = 1, -v
		case n.Op == ann.OpSub:
			s[i], t[i] = -1, v
		case n.Op == ann.OpMul:
			s[i], t[i] = v, 0
		case n.Op == ann.OpDiv && !constFirst && v != 0:
			s[i], t[i] = 1/v, 0
		default:
			return "", nil, nil, false
		}
	}
	return a, s, t, true
}

// toAffineNode rewrites n in place into an OpAffine of x with params s, t.
func toAffineNode(g *ann.Graph, n *ann.Node, x string, s, t []float32) {
	sn := addParam(g, n.Name+"/scale", &ann.Tensor{Shape: []int{len(s)}, Data: s})
	tn := addParam(g, n.Name+"/bias", &ann.Tensor{Shape: []int{len(t)}, Data: t})
	n.Source = joinSource(n.Source, string(n.Op))
	n.Op = ann.OpAffine
	n.Inputs = []string{x, sn, tn}
	n.Attrs = ann.Attrs{}
}

func joinSource(src, op string) string {
	if src != "" {
		return src
	}
	return op
}

// affineParams returns an Affine node's per-channel scale and bias.
func affineParams(g *ann.Graph, n *ann.Node) (s, t []float32) {
	return g.Params[n.Inputs[1]].Data, g.Params[n.Inputs[2]].Data
}

// bias returns a writable bias of length out for a Conv/Dense node, creating
// a zero one when the node has none.
func writableBias(g *ann.Graph, n *ann.Node, out int) *ann.Tensor {
	if len(n.Inputs) > 2 && n.Inputs[2] != "" {
		name, t := ownParam(g, n.Inputs[2])
		n.Inputs[2] = name
		return t
	}
	t := &ann.Tensor{Shape: []int{out}, Data: make([]float32, out)}
	name := addParam(g, n.Name+"/bias", t)
	for len(n.Inputs) < 3 {
		n.Inputs = append(n.Inputs, "")
	}
	n.Inputs[2] = name
	return t
}

func writableWeight(g *ann.Graph, n *ann.Node) *ann.Tensor {
	name, t := ownParam(g, n.Inputs[1])
	n.Inputs[1] = name
	return t
}

// foldBackward folds Affine a into the Conv, Dense or Affine that produces
// its input, when a is that value's only reader.
func foldBackward(g *ann.Graph, a *ann.Node) (string, bool) {
	x := a.Inputs[0]
	p := producer(g, x)
	if p == nil || uses(g, x) != 1 || slices.Contains(g.Outputs, x) {
		return "", false
	}
	s, t := affineParams(g, a)
	switch p.Op {
	case ann.OpConv, ann.OpDense:
		w := g.Params[p.Inputs[1]]
		out := w.Shape[0]
		if len(s) != out && len(s) != 1 {
			return "", false
		}
		w = writableWeight(g, p)
		b := writableBias(g, p, out)
		per := len(w.Data) / out
		for o := 0; o < out; o++ {
			so, to := pick(s, o), pick(t, o)
			for i := o * per; i < (o+1)*per; i++ {
				w.Data[i] *= so
			}
			b.Data[o] = b.Data[o]*so + to
		}
	case ann.OpAffine:
		ps, pt := affineParams(g, p)
		if len(ps) != len(s) && len(s) != 1 && len(ps) != 1 {
			return "", false
		}
		n := max(len(s), len(ps))
		ns, nt := make([]float32, n), make([]float32, n)
		for i := range ns {
			ns[i] = pick(s, i) * pick(ps, i)
			nt[i] = pick(s, i)*pick(pt, i) + pick(t, i)
		}
		p.Inputs[1] = addParam(g, p.Name+"/scale", &ann.Tensor{Shape: []int{n}, Data: ns})
		p.Inputs[2] = addParam(g, p.Name+"/bias", &ann.Tensor{Shape: []int{n}, Data: nt})
	default:
		return "", false
	}
	p.Outputs[0] = a.Outputs[0]
	removeNode(g, a)
	return fmt.Sprintf("into the preceding %s %q", p.Op, p.Name), true
}

func pick(v []float32, i int) float32 {
	if len(v) == 1 {
		return v[0]
	}
	return v[i]
}

// foldForward folds Affine a into the linear layer that reads its output,
// possibly through Flatten/Reshape: a Dense always (per element), a Conv
// directly after it when the shift is zero or the Conv has no padding (padded
// zeros would otherwise miss the shift), or another Affine.
func foldForward(g *ann.Graph, a *ann.Node) (string, bool) {
	x := a.Inputs[0]
	shape := g.Shapes[x]
	s, t := affineParams(g, a)
	var chain []*ann.Node
	v := a.Outputs[0]
	var l *ann.Node
	for {
		c := soleConsumer(g, v)
		if c == nil || c.Inputs[0] != v {
			return "", false
		}
		if isLayout(c.Op) {
			chain = append(chain, c)
			v = c.Outputs[0]
			continue
		}
		l = c
		break
	}
	switch {
	case l.Op == ann.OpDense:
		se, te := expand(s, shape), expand(t, shape)
		w := g.Params[l.Inputs[1]]
		out, in := w.Shape[0], w.Shape[1]
		if in != len(se) {
			return "", false
		}
		w = writableWeight(g, l)
		b := writableBias(g, l, out)
		for o := 0; o < out; o++ {
			row := w.Data[o*in : (o+1)*in]
			var acc float64
			for i, wv := range row {
				acc += float64(wv) * float64(te[i])
				row[i] = wv * se[i]
			}
			b.Data[o] += float32(acc)
		}
	case l.Op == ann.OpConv && len(chain) == 0:
		shift := slices.ContainsFunc(t, func(f float32) bool { return f != 0 })
		if shift && !allZero(l.Attrs.Pads) {
			return "", false
		}
		w := g.Params[l.Inputs[1]]
		out, cpg := w.Shape[0], w.Shape[1]
		group := max(l.Attrs.Group, 1)
		if len(shape) == 0 || (len(s) != 1 && len(s) != shape[0]) {
			return "", false
		}
		w = writableWeight(g, l)
		b := writableBias(g, l, out)
		k := len(w.Data) / (out * cpg)
		opg := out / group
		for o := 0; o < out; o++ {
			var acc float64
			for ci := 0; ci < cpg; ci++ {
				c := (o/opg)*cpg + ci
				sc, tc := pick(s, c), pick(t, c)
				ker := w.Data[(o*cpg+ci)*k : (o*cpg+ci+1)*k]
				for j, wv := range ker {
					acc += float64(wv) * float64(tc)
					ker[j] = wv * sc
				}
			}
			b.Data[o] += float32(acc)
		}
	case l.Op == ann.OpAffine && len(chain) == 0:
		ls, lt := affineParams(g, l)
		n := max(len(s), len(ls))
		ns, nt := make([]float32, n), make([]float32, n)
		for i := range ns {
			ns[i] = pick(ls, i) * pick(s, i)
			nt[i] = pick(ls, i)*pick(t, i) + pick(lt, i)
		}
		l.Inputs[1] = addParam(g, l.Name+"/scale", &ann.Tensor{Shape: []int{n}, Data: ns})
		l.Inputs[2] = addParam(g, l.Name+"/bias", &ann.Tensor{Shape: []int{n}, Data: nt})
	default:
		return "", false
	}
	replaceUses(g, a.Outputs[0], x)
	removeNode(g, a)
	return fmt.Sprintf("into the following %s %q", l.Op, l.Name), true
}

// foldAffine tries backward, then forward; what cannot fold stays an Affine.
func foldAffine(g *ann.Graph, a *ann.Node, what string, warn *[]string) string {
	if where, ok := foldBackward(g, a); ok {
		return fmt.Sprintf("folded %s %s", what, where)
	}
	if where, ok := foldForward(g, a); ok {
		return fmt.Sprintf("folded %s %s", what, where)
	}
	msg := fmt.Sprintf("kept %s as a per-channel Affine %q (no neighbouring linear layer can absorb it)", what, a.Name)
	*warn = append(*warn, msg)
	return msg
}

func passFoldInputNorm(c *PassContext) ([]string, error) {
	g := c.G
	if len(g.Inputs) != 1 {
		return nil, nil
	}
	v := g.Inputs[0].Name
	var first *ann.Node
	var ops []string
	for {
		n := soleConsumer(g, v)
		if n == nil {
			break
		}
		if n.Op != ann.OpAffine {
			x, s, t, ok := affineOf(g, n)
			if !ok || x != v {
				break
			}
			ops = append(ops, fmt.Sprintf("%s %q", n.Op, n.Name))
			toAffineNode(g, n, x, s, t)
		} else {
			ops = append(ops, fmt.Sprintf("Affine %q", n.Name))
		}
		if first == nil {
			first = n
		} else {
			// Compose into the first node of the chain.
			if _, ok := foldBackward(g, n); !ok {
				return nil, fmt.Errorf("node %q: cannot merge input affine ops", n.Name)
			}
		}
		v = first.Outputs[0]
	}
	if first == nil {
		return nil, nil
	}
	s, t := affineParams(g, first)
	if slices.IndexFunc(s, func(f float32) bool { return f != 1 }) < 0 && slices.IndexFunc(t, func(f float32) bool { return f != 0 }) < 0 {
		bypass(g, first)
		return []string{fmt.Sprintf("removed input normalisation %v: it is the identity", ops)}, nil
	}
	what := fmt.Sprintf("input normalisation (%s)", joinList(ops))
	if where, ok := foldForward(g, first); ok {
		return []string{fmt.Sprintf("folded %s %s", what, where)}, nil
	}
	return []string{fmt.Sprintf("kept %s as input Affine %q", what, first.Name)}, nil
}

func joinList(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += ", "
		}
		out += x
	}
	return out
}

func passFoldBias(c *PassContext) ([]string, error) {
	g := c.G
	var log []string
	for _, n := range slices.Clone(g.Nodes) {
		if !slices.Contains(g.Nodes, n) {
			continue
		}
		x, s, t, ok := affineOf(g, n)
		if !ok {
			continue
		}
		what := fmt.Sprintf("%s %q by a constant", n.Op, n.Name)
		toAffineNode(g, n, x, s, t)
		log = append(log, foldAffine(g, n, what, &c.Warnings))
	}
	return log, nil
}

func passFoldBatchNorm(c *PassContext) ([]string, error) {
	g := c.G
	var log []string
	for _, n := range slices.Clone(g.Nodes) {
		if n.Op != ann.OpBatchNorm {
			continue
		}
		shape := g.Shapes[n.Inputs[0]]
		if len(shape) == 0 || len(n.Inputs) < 5 {
			return log, fmt.Errorf("node %q (BatchNormalization): input of shape %v, %d inputs", n.Name, shape, len(n.Inputs))
		}
		ch := shape[0]
		var ps [4][]float32
		for i := range ps {
			p, ok := g.Params[n.Inputs[1+i]]
			if !ok || len(p.Data) != ch {
				return log, fmt.Errorf("node %q (BatchNormalization): input %d must be a constant of %d channels", n.Name, i+1, ch)
			}
			ps[i] = p.Data
		}
		gamma, beta, mean, variance := ps[0], ps[1], ps[2], ps[3]
		s, t := make([]float32, ch), make([]float32, ch)
		for i := range s {
			k := float64(gamma[i]) / math.Sqrt(float64(variance[i])+float64(n.Attrs.Epsilon))
			s[i] = float32(k)
			t[i] = float32(float64(beta[i]) - float64(mean[i])*k)
		}
		toAffineNode(g, n, n.Inputs[0], s, t)
		n.Source = joinSource(n.Source, "BatchNormalization")
		log = append(log, foldAffine(g, n, fmt.Sprintf("BatchNormalization %q", n.Name), &c.Warnings))
	}
	return log, nil
}

func passNHWCFlatten(c *PassContext) ([]string, error) {
	g := c.G
	var log []string
	for _, t := range slices.Clone(g.Nodes) {
		if t.Op != ann.OpTranspose {
			continue
		}
		f := soleConsumer(g, t.Outputs[0])
		if f == nil || !isLayout(f.Op) {
			continue
		}
		d := soleConsumer(g, f.Outputs[0])
		if d == nil || d.Op != ann.OpDense || d.Inputs[0] != f.Outputs[0] {
			continue
		}
		src := g.Shapes[t.Inputs[0]]
		perm := t.Attrs.Perm
		w := g.Params[d.Inputs[1]]
		out, in := w.Shape[0], w.Shape[1]
		if in != ann.Numel(src) || len(perm) != len(src) {
			continue
		}
		dst := make([]int, len(perm))
		for k, a := range perm {
			dst[k] = src[a]
		}
		// col[i] = flat index, in the transposed layout, of source element i.
		col := make([]int, in)
		idx := make([]int, len(src))
		dstStride := strides(dst)
		for i := range col {
			r := i
			for a := len(src) - 1; a >= 0; a-- {
				idx[a] = r % src[a]
				r /= src[a]
			}
			j := 0
			for k, a := range perm {
				j += idx[a] * dstStride[k]
			}
			col[i] = j
		}
		nw := &ann.Tensor{Shape: []int{out, in}, Data: make([]float32, out*in)}
		for o := 0; o < out; o++ {
			row, nrow := w.Data[o*in:(o+1)*in], nw.Data[o*in:(o+1)*in]
			for i, j := range col {
				nrow[i] = row[j]
			}
		}
		d.Inputs[1] = addParam(g, d.Inputs[1]+"/perm", nw)
		f.Inputs[0] = t.Inputs[0]
		removeNode(g, t)
		log = append(log, fmt.Sprintf("Transpose %q %v before %s %q: permuted the columns of Dense %q instead", t.Name, perm, f.Op, f.Name, d.Name))
	}
	return log, nil
}

func strides(shape []int) []int {
	s := make([]int, len(shape))
	acc := 1
	for i := len(shape) - 1; i >= 0; i-- {
		s[i] = acc
		acc *= shape[i]
	}
	return s
}

// passReorderPoolRelu puts each max pool on the side of its ReLU where the
// SNN computes it best; MaxPool commutes with ReLU and with a clipped ReLU,
// as with any non-decreasing function. Where the ReLU's input is a current
// that stays the same every step (analog encoding, no IF layer before it),
// the pool goes first: the max of a constant current is exact, and the IF
// layer after it has one neuron per window instead of one per pixel.
// Everywhere else the ReLU goes first, so that the pool acts on spikes
// (DESIGN §2's rule, an approximation).
func passReorderPoolRelu(c *PassContext) ([]string, error) {
	g := c.G
	// Commuting a pool with a ReLU changes no value's steadiness but the one
	// between them, which only the ReLU reads, and the ReLU has been seen.
	var steady map[string]bool
	if c.Opt.Encoding == snnrt.EncodingAnalog {
		steady = steadyValues(g)
	}
	var log []string
	for _, n := range slices.Clone(g.Nodes) {
		switch {
		case n.Op == ann.OpMaxPool && !steady[n.Inputs[0]]:
			r := soleConsumer(g, n.Outputs[0])
			if r == nil || !isRelu(r) {
				continue
			}
			swapAdjacent(g, n, r, "/prepool")
			log = append(log, fmt.Sprintf("MaxPool %q → %s %q reordered to %s → MaxPool", n.Name, r.Op, r.Name, r.Op))
		case isRelu(n) && steady[n.Inputs[0]]:
			m := soleConsumer(g, n.Outputs[0])
			if m == nil || m.Op != ann.OpMaxPool {
				continue
			}
			swapAdjacent(g, n, m, "/prerelu")
			log = append(log, fmt.Sprintf("%s %q → MaxPool %q reordered to MaxPool → %s: the pool takes the max of the analog input's constant current, exactly", n.Op, n.Name, m.Name, n.Op))
		}
	}
	return log, nil
}

func isRelu(n *ann.Node) bool { return n.Op == ann.OpRelu || n.Op == ann.OpClippedRelu }

// steadyValues are the values that stay the same every step of the SNN when
// the input does (analog encoding): those with no ReLU, that is no IF layer,
// between them and the input.
func steadyValues(g *ann.Graph) map[string]bool {
	st := map[string]bool{}
	for _, in := range g.Inputs {
		st[in.Name] = true
	}
	for _, n := range g.Nodes {
		s := !isRelu(n)
		for _, in := range n.Inputs {
			if !g.IsParam(in) && !st[in] {
				s = false
			}
		}
		for _, o := range n.Outputs {
			st[o] = s
		}
	}
	return st
}

// swapAdjacent turns first → second (second the sole reader of first's
// output) into second → first: second reads first's input, first writes
// second's output; the value between them is named after second's output
// with suffix.
func swapAdjacent(g *ann.Graph, first, second *ann.Node, suffix string) {
	mid := fresh(g, second.Outputs[0]+suffix)
	out := second.Outputs[0]
	second.Inputs[0] = first.Inputs[0]
	second.Outputs[0] = mid
	first.Inputs[0] = mid
	first.Outputs[0] = out
	i, j := slices.Index(g.Nodes, first), slices.Index(g.Nodes, second)
	g.Nodes[i], g.Nodes[j] = second, first
}

func passFoldPad(c *PassContext) ([]string, error) {
	g := c.G
	var log []string
	for _, p := range slices.Clone(g.Nodes) {
		if p.Op != ann.OpPad || p.Attrs.Value != 0 {
			continue
		}
		pads := p.Attrs.Pads
		if allZero(pads) {
			bypass(g, p)
			log = append(log, fmt.Sprintf("removed Pad %q: all pads are zero", p.Name))
			continue
		}
		shape := g.Shapes[p.Inputs[0]]
		if len(shape) != 3 || len(pads) != 6 || pads[0] != 0 || pads[3] != 0 || slices.ContainsFunc(pads, func(v int) bool { return v < 0 }) {
			continue
		}
		add := []int{pads[1], pads[2], pads[4], pads[5]} // top, left, bottom, right
		n := soleConsumer(g, p.Outputs[0])
		if n == nil || n.Inputs[0] != p.Outputs[0] {
			continue
		}
		switch n.Op {
		case ann.OpConv:
		case ann.OpMaxPool:
			// Zero padding equals MaxPool's -inf padding on values ≥ 0 as long
			// as no window lies wholly in the padding.
			if !nonNegative(g, p.Inputs[0]) || len(n.Attrs.Kernel) != 2 || slices.Max(add) >= min(n.Attrs.Kernel[0], n.Attrs.Kernel[1]) {
				continue
			}
		case ann.OpAveragePool:
			if !n.Attrs.CountIncludePad && !allZero(n.Attrs.Pads) {
				continue
			}
			n.Attrs.CountIncludePad = true
		default:
			continue
		}
		np := make([]int, 4)
		copy(np, n.Attrs.Pads)
		for i := range np {
			np[i] += add[i]
		}
		n.Attrs.Pads = np
		n.Inputs[0] = p.Inputs[0]
		removeNode(g, p)
		log = append(log, fmt.Sprintf("folded Pad %q %v into %s %q (pads now %v)", p.Name, pads, n.Op, n.Name, np))
	}
	return log, nil
}

func passAvgPoolSum(c *PassContext) ([]string, error) {
	g := c.G
	var log []string
	for _, n := range g.Nodes {
		shape := g.Shapes[n.Inputs[0]]
		switch n.Op {
		case ann.OpGlobalAveragePool:
			if len(shape) != 3 {
				continue
			}
			n.Op = ann.OpAveragePool
			n.Attrs = ann.Attrs{Kernel: []int{shape[1], shape[2]}, Strides: []int{1, 1}, Pads: []int{0, 0, 0, 0}, Dilations: []int{1, 1}}
			n.Source = joinSource(n.Source, "GlobalAveragePool")
			log = append(log, fmt.Sprintf("GlobalAveragePool %q → AveragePool %dx%d (a SumPool whose 1/%d goes into the next layer)", n.Name, shape[1], shape[2], shape[1]*shape[2]))
		case ann.OpMaxPool, ann.OpAveragePool:
			if !n.Attrs.CeilMode || len(shape) != 3 {
				continue
			}
			extra, ok := ceilExtraPads(shape, n.Attrs)
			if !ok {
				continue
			}
			if extra[0] == 0 && extra[1] == 0 {
				n.Attrs.CeilMode = false
				log = append(log, fmt.Sprintf("%s %q: ceil_mode has no effect here, cleared", n.Op, n.Name))
				continue
			}
			if n.Op == ann.OpAveragePool {
				continue // the border windows would divide by fewer: left for the lowering to refuse
			}
			np := make([]int, 4)
			copy(np, n.Attrs.Pads)
			np[2] += extra[0]
			np[3] += extra[1]
			n.Attrs.Pads = np
			n.Attrs.CeilMode = false
			log = append(log, fmt.Sprintf("MaxPool %q: ceil_mode → end pads %v", n.Name, np))
		}
	}
	return log, nil
}

// ceilExtraPads returns the bottom/right padding that makes floor-mode
// pooling produce the ceil-mode output size.
func ceilExtraPads(shape []int, a ann.Attrs) ([2]int, bool) {
	var extra [2]int
	if len(a.Kernel) != 2 {
		return extra, false
	}
	pads := make([]int, 4)
	copy(pads, a.Pads)
	for d := 0; d < 2; d++ {
		k, s, dil := a.Kernel[d], 1, 1
		if len(a.Strides) == 2 {
			s = a.Strides[d]
		}
		if len(a.Dilations) == 2 && a.Dilations[d] > 0 {
			dil = a.Dilations[d]
		}
		eff := (k-1)*dil + 1
		span := shape[1+d] + pads[d] + pads[d+2] - eff
		if span < 0 {
			return extra, false
		}
		floorOut := span/s + 1
		ceilOut := (span+s-1)/s + 1
		// A last window starting in the end padding is dropped (PyTorch, ONNX).
		if (ceilOut-1)*s >= shape[1+d]+pads[d] {
			ceilOut--
		}
		extra[d] = (ceilOut - floorOut) * s
	}
	return extra, true
}
