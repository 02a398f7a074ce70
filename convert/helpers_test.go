package convert

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/snnconvert/snnconvert/ann"
)

// builder assembles tiny hand-made graphs for pass tests.
type builder struct {
	g   *ann.Graph
	rng *rand.Rand
	n   int
}

func newBuilder(seed uint64, input string, shape ...int) *builder {
	return &builder{
		g: &ann.Graph{Name: "tiny", Inputs: []ann.Value{{Name: input, Shape: shape, DType: "float32"}},
			Params: map[string]*ann.Tensor{}, Shapes: map[string][]int{}, Info: ann.ModelInfo{Opsets: map[string]int64{"": 13}}},
		rng: rand.New(rand.NewPCG(seed, 1)),
	}
}

// param adds a random constant (uniform in [lo, hi)).
func (b *builder) param(lo, hi float32, shape ...int) string {
	b.n++
	name := "p" + itoa(b.n)
	t := ann.NewTensor(shape...)
	for i := range t.Data {
		t.Data[i] = lo + (hi-lo)*b.rng.Float32()
	}
	b.g.Params[name] = t
	return name
}

// constant adds a constant with the given values.
func (b *builder) constant(data []float32, shape ...int) string {
	b.n++
	name := "c" + itoa(b.n)
	b.g.Params[name] = &ann.Tensor{Shape: shape, Data: data}
	return name
}

// op appends a node and returns its output value.
func (b *builder) op(name string, op ann.Op, attrs ann.Attrs, inputs ...string) string {
	out := name + "_out"
	b.g.Nodes = append(b.g.Nodes, &ann.Node{Name: name, Op: op, Inputs: inputs, Outputs: []string{out}, Attrs: attrs})
	return out
}

func (b *builder) conv(name, x string, in, out, k int, pads ...int) string {
	if pads == nil {
		pads = []int{0, 0, 0, 0}
	}
	return b.op(name, ann.OpConv, ann.Attrs{Strides: []int{1, 1}, Pads: pads, Dilations: []int{1, 1}, Group: 1},
		x, b.param(-0.5, 0.5, out, in, k, k), b.param(-0.1, 0.1, out))
}

func (b *builder) dense(name, x string, in, out int) string {
	return b.op(name, ann.OpDense, ann.Attrs{}, x, b.param(-0.3, 0.3, out, in), b.param(-0.1, 0.1, out))
}

func (b *builder) done(t *testing.T, outputs ...string) *ann.Graph {
	t.Helper()
	b.g.Outputs = outputs
	if err := ann.InferShapes(b.g); err != nil {
		t.Fatalf("building graph: %v", err)
	}
	return b.g
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	s := ""
	for ; i > 0; i /= 10 {
		s = string(rune('0'+i%10)) + s
	}
	return s
}

// randomInput draws n samples for g's single input, uniform in [lo, hi).
func randomInput(g *ann.Graph, n int, lo, hi float32, seed uint64) *ann.Tensor {
	rng := rand.New(rand.NewPCG(seed, 2))
	x := ann.NewTensor(append([]int{n}, g.Inputs[0].Shape...)...)
	for i := range x.Data {
		x.Data[i] = lo + (hi-lo)*rng.Float32()
	}
	return x
}

// run executes g on x (all values kept) and returns a copy of the outputs.
func run(t *testing.T, g *ann.Graph, x *ann.Tensor) map[string]*ann.Tensor {
	t.Helper()
	e, err := ann.NewExecutor(g, ann.ExecOptions{Workers: 1, KeepAll: true})
	if err != nil {
		t.Fatalf("executor: %v", err)
	}
	out, err := e.Run(map[string]*ann.Tensor{g.Inputs[0].Name: x})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	cp := map[string]*ann.Tensor{}
	for k, v := range out {
		cp[k] = v.Clone()
	}
	return cp
}

// relErr is max|a−b| / max(max|b|, tiny): the error relative to the output's scale.
func relErr(a, b []float32) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	var d, m float64
	for i := range a {
		d = max(d, math.Abs(float64(a[i])-float64(b[i])))
		m = max(m, math.Abs(float64(b[i])))
	}
	return d / max(m, 1e-12)
}

func opsOf(g *ann.Graph) []ann.Op {
	var ops []ann.Op
	for _, n := range g.Nodes {
		ops = append(ops, n.Op)
	}
	return ops
}
