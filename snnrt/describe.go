package snnrt

import "slices"

// LayerInfo describes one node of a network without running it, for
// `snnconvert inspect` on an SNN file.
type LayerInfo struct {
	Name   string   `json:"node"`
	Op     Op       `json:"op"`
	Inputs []string `json:"inputs"`
	// Shape is the per-sample output shape.
	Shape []int `json:"shape"`
	// Params counts the node's weights and biases.
	Params int `json:"params"`
	// ANNMACs is what a Conv or Dense costs the source ANN per image: the
	// figure `run` sets a spiking layer's ACs against.
	ANNMACs int64   `json:"ann_macs,omitempty"`
	IF      *IFInfo `json:"if,omitempty"`
}

// IFInfo is an IF node's neurons: how many, the range of their thresholds
// (one per layer or per channel), the reset and v_init (a fraction of θ).
type IFInfo struct {
	Neurons      int       `json:"neurons"`
	ThresholdMin float32   `json:"threshold_min"`
	ThresholdMax float32   `json:"threshold_max"`
	Thresholds   int       `json:"thresholds"`
	Reset        ResetMode `json:"reset"`
	VInit        float32   `json:"v_init"`
}

// Layers describes every node in order. Shapes come from InferShapes (Read
// and Decode have run it).
func (net *Network) Layers() []LayerInfo {
	out := make([]LayerInfo, 0, len(net.Nodes))
	for _, n := range net.Nodes {
		l := LayerInfo{Name: n.Name, Op: n.Op, Inputs: slices.Clone(n.Inputs), Shape: slices.Clone(n.Shape)}
		if l.Shape == nil {
			l.Shape = []int{}
		}
		for _, t := range []*Tensor{n.W, n.B} {
			if t != nil {
				l.Params += len(t.Data)
			}
		}
		if n.Op == OpConv || n.Op == OpDense {
			l.ANNMACs = annMACs(n, n.Shape)
		}
		if n.Op == OpIF && len(n.Threshold) > 0 {
			l.IF = &IFInfo{Neurons: numel(n.Shape), ThresholdMin: slices.Min(n.Threshold),
				ThresholdMax: slices.Max(n.Threshold), Thresholds: len(n.Threshold), Reset: n.Reset, VInit: n.VInit}
		}
		out = append(out, l)
	}
	return out
}
