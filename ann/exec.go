package ann

import (
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
)

// ExecOptions configures an Executor.
type ExecOptions struct {
	// Workers is the number of goroutines a batch is split across
	// (0 = GOMAXPROCS). Each worker runs the whole graph on a contiguous chunk
	// of samples, so workers never wait on each other between nodes.
	Workers int
	// KeepAll keeps every intermediate value and returns it from Run; without
	// it, value buffers are recycled once their last reader has run.
	KeepAll bool
}

// Executor runs a Graph on batches of float32 inputs. Buffers are sized for
// the largest batch seen and reused, so repeated runs at a batch size no
// larger than an earlier one allocate nothing. An Executor is not safe for
// concurrent Run calls.
type Executor struct {
	*core
}

// core is what the worker goroutines reference; Executor wraps it so that an
// unreachable Executor can stop its workers through a cleanup.
type core struct {
	g       *Graph
	opt     ExecOptions
	workers int

	shapes  map[string][]int
	values  []*slot // activations (graph inputs and node outputs) by index
	byName  map[string]*slot
	inputs  []*slot // graph inputs, in g.Inputs order
	outputs []*slot // values returned by Run
	kernels []kernel
	nodes   []*Node // kernels[i] runs nodes[i]

	bufs    []*buffer
	scratch []*scratch // per worker
	batch   int        // current batch size
	tile    int        // samples per pass through the graph (see planTile)
	result  map[string]*Tensor

	jobs chan job
	wg   sync.WaitGroup
	errs []error // per worker, from recovered panics
}

// slot is one activation value.
type slot struct {
	name  string
	shape []int // per-sample
	size  int   // per-sample element count
	buf   *buffer
	// ext is a caller-provided graph input, used in place of buf.
	ext    []float32
	tensor Tensor // returned view; Shape has capacity for the batch axis
}

// chunk returns the value's rows for samples [lo, hi) of a worker's chunk.
// A buffer shared by values of different sizes has a stride of the largest
// of them, and a chunk starts at lo·stride, so every worker owns a region of
// the buffer that no other worker touches whatever value it holds; inside
// the region a value's samples are contiguous.
func (s *slot) chunk(lo, hi int) []float32 {
	if s.ext != nil {
		return s.ext[lo*s.size : hi*s.size]
	}
	base := lo * s.buf.size
	return s.buf.data[base : base+(hi-lo)*s.size]
}

// sample returns sample i of the chunk that starts at lo.
func (s *slot) sample(lo, i int) []float32 {
	c := s.chunk(lo, i+1)
	return c[(i-lo)*s.size:]
}

// buffer is storage shared over time by values whose lifetimes do not overlap.
type buffer struct {
	size int // per-sample capacity in elements
	data []float32
}

// scratch is per-worker temporary storage (im2col patches).
type scratch struct {
	cols []float32
}

type job struct{ worker, lo, hi int }

// kernel executes one node on samples [lo, hi).
type kernel interface {
	run(s *scratch, lo, hi int)
}

// scratchUser is a kernel that needs per-worker scratch of a given size.
type scratchUser interface {
	scratchSize() int
}

// NewExecutor validates g (every op, shape and parameter) and prepares the
// kernels. g must be topologically sorted; it is not modified, and must not
// be modified while the Executor is in use.
func NewExecutor(g *Graph, opt ExecOptions) (*Executor, error) {
	if g == nil {
		return nil, errors.New("ann: nil graph")
	}
	if len(g.Inputs) == 0 {
		return nil, fmt.Errorf("graph %q has no inputs", g.Name)
	}
	if len(g.Outputs) == 0 {
		return nil, fmt.Errorf("graph %q has no outputs", g.Name)
	}
	shapes, err := inferShapes(g)
	if err != nil {
		return nil, fmt.Errorf("graph %q: %w", g.Name, err)
	}
	w := opt.Workers
	if w <= 0 {
		w = runtime.GOMAXPROCS(0)
	}
	c := &core{g: g, opt: opt, workers: w, shapes: shapes, byName: map[string]*slot{}}
	newSlot := func(name string) *slot {
		sh := shapes[name]
		s := &slot{name: name, shape: sh, size: Numel(sh)}
		s.tensor.Shape = make([]int, len(sh)+1)
		copy(s.tensor.Shape[1:], sh)
		c.values = append(c.values, s)
		c.byName[name] = s
		return s
	}
	for _, v := range g.Inputs {
		if _, dup := c.byName[v.Name]; dup {
			return nil, fmt.Errorf("graph %q: input %q listed twice", g.Name, v.Name)
		}
		c.inputs = append(c.inputs, newSlot(v.Name))
	}
	for _, n := range g.Nodes {
		for _, o := range n.Outputs {
			if o != "" {
				newSlot(o)
			}
		}
	}
	for _, o := range g.Outputs {
		s, ok := c.byName[o]
		if !ok {
			return nil, fmt.Errorf("graph %q: output %q is not produced by any node nor a graph input", g.Name, o)
		}
		c.outputs = append(c.outputs, s)
	}
	for _, n := range g.Nodes {
		k, err := c.compile(n)
		if err != nil {
			return nil, fmt.Errorf("node %q (%s): %w", n.Name, n.Op, err)
		}
		c.kernels = append(c.kernels, k)
		c.nodes = append(c.nodes, n)
	}
	c.planBuffers()
	c.planTile()
	cols := 0
	for _, k := range c.kernels {
		if su, ok := k.(scratchUser); ok {
			cols = max(cols, su.scratchSize())
		}
	}
	for range w {
		c.scratch = append(c.scratch, &scratch{cols: make([]float32, cols)})
	}
	c.errs = make([]error, w)
	c.result = make(map[string]*Tensor, len(c.values))
	e := &Executor{c}
	if w > 1 {
		c.jobs = make(chan job)
		for range w - 1 {
			go c.worker()
		}
		runtime.AddCleanup(e, func(jobs chan job) { close(jobs) }, c.jobs)
	}
	return e, nil
}

// planBuffers assigns storage to node outputs. With KeepAll every value owns
// a buffer; otherwise a buffer returns to a free list after the last node
// reading its value, and graph outputs are never recycled.
func (c *core) planBuffers() {
	if c.opt.KeepAll {
		for _, s := range c.values[len(c.inputs):] {
			s.buf = &buffer{size: s.size}
			c.bufs = append(c.bufs, s.buf)
		}
		return
	}
	lastUse := map[*slot]int{}
	for i, n := range c.nodes {
		for _, in := range n.Inputs {
			if s, ok := c.byName[in]; ok {
				lastUse[s] = i
			}
		}
	}
	for _, s := range c.outputs {
		lastUse[s] = len(c.nodes)
	}
	var free []*buffer
	for i, n := range c.nodes {
		for _, o := range n.Outputs {
			if o == "" {
				continue
			}
			s := c.byName[o]
			if slices.Contains(c.outputs, s) {
				// Returned values need the plain [N, size] layout: own buffer.
				s.buf = &buffer{size: s.size}
				c.bufs = append(c.bufs, s.buf)
				continue
			}
			// Best fit: the smallest free buffer that holds the value, else grow the largest.
			best := -1
			for j, b := range free {
				if b.size >= s.size && (best < 0 || b.size < free[best].size) {
					best = j
				}
			}
			if best < 0 && len(free) > 0 {
				best = 0
				for j, b := range free {
					if b.size > free[best].size {
						best = j
					}
				}
				free[best].size = s.size
			}
			if best >= 0 {
				s.buf = free[best]
				free = slices.Delete(free, best, best+1)
			} else {
				s.buf = &buffer{size: s.size}
				c.bufs = append(c.bufs, s.buf)
			}
			if _, read := lastUse[s]; !read {
				// A value nothing reads (Dropout's mask) is dead at once.
				lastUse[s] = i
			}
		}
		for _, name := range append(slices.Clone(n.Inputs), n.Outputs...) {
			s, ok := c.byName[name]
			if !ok || s.buf == nil || lastUse[s] != i {
				continue
			}
			if !slices.Contains(free, s.buf) {
				free = append(free, s.buf)
			}
		}
	}
}

// Graph returns the graph the executor runs.
func (e *Executor) Graph() *Graph { return e.g }

// Shape returns the per-sample shape of value name (nil if unknown).
func (e *Executor) Shape(name string) []int { return e.shapes[name] }

// Run executes the graph on one batch. inputs maps every graph input name to
// an [N, per-sample...] tensor. It returns the graph outputs (and, with
// KeepAll, every value, graph inputs included) as [N, ...] tensors owned by
// the executor and valid until the next Run; the map itself is reused too.
func (e *Executor) Run(inputs map[string]*Tensor) (map[string]*Tensor, error) {
	c := e.core
	n := -1
	for _, s := range c.inputs {
		t, ok := inputs[s.name]
		if !ok || t == nil {
			return nil, fmt.Errorf("graph %q: input %q not given", c.g.Name, s.name)
		}
		if len(t.Shape) != len(s.shape)+1 || !slices.Equal(t.Shape[1:], s.shape) {
			return nil, fmt.Errorf("graph %q: input %q has shape %v, want [N %v]", c.g.Name, s.name, t.Shape, s.shape)
		}
		if n >= 0 && t.Shape[0] != n {
			return nil, fmt.Errorf("graph %q: input %q has batch %d, other inputs %d", c.g.Name, s.name, t.Shape[0], n)
		}
		n = t.Shape[0]
		if len(t.Data) != n*s.size {
			return nil, fmt.Errorf("graph %q: input %q shape %v needs %d values, has %d", c.g.Name, s.name, t.Shape, n*s.size, len(t.Data))
		}
	}
	if n <= 0 {
		return nil, fmt.Errorf("graph %q: empty batch", c.g.Name)
	}
	if len(inputs) != len(c.inputs) {
		for name := range inputs {
			if s, ok := c.byName[name]; !ok || !slices.Contains(c.inputs, s) {
				return nil, fmt.Errorf("graph %q: %q is not a graph input", c.g.Name, name)
			}
		}
	}
	for _, s := range c.inputs {
		s.ext = inputs[s.name].Data
	}
	c.resize(n)

	chunks := min(c.workers, n)
	per, extra := n/chunks, n%chunks
	lo := 0
	var first job
	for w := range chunks {
		hi := lo + per
		if w < extra {
			hi++
		}
		j := job{worker: w, lo: lo, hi: hi}
		if w == 0 {
			first = j
		} else {
			c.wg.Add(1)
			c.jobs <- j
		}
		lo = hi
	}
	c.runChunk(first)
	c.wg.Wait()
	for w, err := range c.errs {
		if err != nil {
			c.errs[w] = nil
			return nil, err
		}
	}

	clear(c.result)
	publish := func(s *slot) {
		s.tensor.Shape[0] = n
		s.tensor.Data = s.chunk(0, n)
		c.result[s.name] = &s.tensor
	}
	if c.opt.KeepAll {
		for _, s := range c.values {
			publish(s)
		}
	} else {
		for _, s := range c.outputs {
			publish(s)
		}
	}
	for _, s := range c.inputs {
		s.ext = nil
	}
	if c.opt.KeepAll {
		for _, s := range c.inputs {
			c.result[s.name] = inputs[s.name]
		}
	}
	return c.result, nil
}

// resize makes every buffer hold n samples; capacity only grows.
func (c *core) resize(n int) {
	if n == c.batch {
		return
	}
	for _, b := range c.bufs {
		need := n * b.size
		if cap(b.data) < need {
			b.data = make([]float32, need)
		}
		b.data = b.data[:need]
	}
	c.batch = n
}

func (c *core) worker() {
	for j := range c.jobs {
		c.runChunk(j)
		c.wg.Done()
	}
}

// runChunk runs every node on samples [lo, hi). A kernel panic (a bug, since
// shapes were validated) is turned into an error naming the node.
func (c *core) runChunk(j job) {
	i := 0
	defer func() {
		if r := recover(); r != nil {
			n := c.nodes[i]
			c.errs[j.worker] = fmt.Errorf("node %q (%s): internal error on samples [%d, %d): %v", n.Name, n.Op, j.lo, j.hi, r)
		}
	}()
	s := c.scratch[j.worker]
	for lo := j.lo; lo < j.hi; lo += c.tile {
		hi := min(lo+c.tile, j.hi)
		for i = 0; i < len(c.kernels); i++ {
			c.kernels[i].run(s, lo, hi)
		}
	}
}

// tileBytes bounds the activations of the samples a worker pushes through
// the graph at once, so they stay in cache between one node and the next.
const tileBytes = 512 << 10

func (c *core) planTile() {
	per := 0
	for _, b := range c.bufs {
		per += b.size * 4
	}
	c.tile = max(1, tileBytes/max(per, 1))
}
