package ann

import (
	"math"
	"math/rand/v2"
)

func randTensor(rng *rand.Rand, scale float32, shape ...int) *Tensor {
	t := NewTensor(shape...)
	for i := range t.Data {
		t.Data[i] = (rng.Float32()*2 - 1) * scale
	}
	return t
}

// lenetGraph is LeNet-5 as the bundled model has it (conv5x5/6 pad 2, ReLU,
// MaxPool 2, conv5x5/16, ReLU, MaxPool 2, FC 120-84-10) with seeded random
// weights scaled like a He initialisation.
func lenetGraph(seed uint64) *Graph {
	rng := rand.New(rand.NewPCG(seed, 1))
	he := func(fanIn int) float32 { return float32(math.Sqrt(6 / float64(fanIn))) }
	p := map[string]*Tensor{
		"w1": randTensor(rng, he(25), 6, 1, 5, 5), "b1": randTensor(rng, 0.1, 6),
		"w2": randTensor(rng, he(150), 16, 6, 5, 5), "b2": randTensor(rng, 0.1, 16),
		"w3": randTensor(rng, he(400), 120, 400), "b3": randTensor(rng, 0.1, 120),
		"w4": randTensor(rng, he(120), 84, 120), "b4": randTensor(rng, 0.1, 84),
		"w5": randTensor(rng, he(84), 10, 84), "b5": randTensor(rng, 0.1, 10),
	}
	pool := Attrs{Kernel: []int{2, 2}, Strides: []int{2, 2}}
	return &Graph{
		Name:    "lenet",
		Inputs:  []Value{{Name: "input", Shape: []int{1, 28, 28}, DType: "float32"}},
		Outputs: []string{"logits"},
		Params:  p,
		Nodes: []*Node{
			{Name: "conv1", Op: OpConv, Inputs: []string{"input", "w1", "b1"}, Outputs: []string{"c1"}, Attrs: Attrs{Pads: []int{2, 2, 2, 2}}},
			{Name: "relu1", Op: OpRelu, Inputs: []string{"c1"}, Outputs: []string{"r1"}},
			{Name: "pool1", Op: OpMaxPool, Inputs: []string{"r1"}, Outputs: []string{"p1"}, Attrs: pool},
			{Name: "conv2", Op: OpConv, Inputs: []string{"p1", "w2", "b2"}, Outputs: []string{"c2"}},
			{Name: "relu2", Op: OpRelu, Inputs: []string{"c2"}, Outputs: []string{"r2"}},
			{Name: "pool2", Op: OpMaxPool, Inputs: []string{"r2"}, Outputs: []string{"p2"}, Attrs: pool},
			{Name: "flatten", Op: OpFlatten, Inputs: []string{"p2"}, Outputs: []string{"f"}},
			{Name: "fc1", Op: OpDense, Inputs: []string{"f", "w3", "b3"}, Outputs: []string{"h1"}},
			{Name: "relu3", Op: OpRelu, Inputs: []string{"h1"}, Outputs: []string{"a1"}},
			{Name: "fc2", Op: OpDense, Inputs: []string{"a1", "w4", "b4"}, Outputs: []string{"h2"}},
			{Name: "relu4", Op: OpRelu, Inputs: []string{"h2"}, Outputs: []string{"a2"}},
			{Name: "fc3", Op: OpDense, Inputs: []string{"a2", "w5", "b5"}, Outputs: []string{"logits"}},
		},
	}
}

// mlpGraph is the bundled mlp: Flatten-784-FC512-ReLU-FC256-ReLU-FC10.
func mlpGraph(seed uint64) *Graph {
	rng := rand.New(rand.NewPCG(seed, 2))
	he := func(fanIn int) float32 { return float32(math.Sqrt(6 / float64(fanIn))) }
	return &Graph{
		Name:    "mlp",
		Inputs:  []Value{{Name: "input", Shape: []int{1, 28, 28}, DType: "float32"}},
		Outputs: []string{"logits"},
		Params: map[string]*Tensor{
			"w1": randTensor(rng, he(784), 512, 784), "b1": randTensor(rng, 0.1, 512),
			"w2": randTensor(rng, he(512), 256, 512), "b2": randTensor(rng, 0.1, 256),
			"w3": randTensor(rng, he(256), 10, 256), "b3": randTensor(rng, 0.1, 10),
		},
		Nodes: []*Node{
			{Name: "flatten", Op: OpFlatten, Inputs: []string{"input"}, Outputs: []string{"f"}},
			{Name: "fc1", Op: OpDense, Inputs: []string{"f", "w1", "b1"}, Outputs: []string{"h1"}},
			{Name: "relu1", Op: OpRelu, Inputs: []string{"h1"}, Outputs: []string{"a1"}},
			{Name: "fc2", Op: OpDense, Inputs: []string{"a1", "w2", "b2"}, Outputs: []string{"h2"}},
			{Name: "relu2", Op: OpRelu, Inputs: []string{"h2"}, Outputs: []string{"a2"}},
			{Name: "fc3", Op: OpDense, Inputs: []string{"a2", "w3", "b3"}, Outputs: []string{"logits"}},
		},
	}
}

// images returns n seeded pseudo-images in [0, 1) shaped [n, 1, 28, 28].
func images(n int, seed uint64) *Tensor {
	rng := rand.New(rand.NewPCG(seed, 3))
	t := NewTensor(n, 1, 28, 28)
	for i := range t.Data {
		t.Data[i] = rng.Float32()
	}
	return t
}
