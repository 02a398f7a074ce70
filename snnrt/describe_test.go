package snnrt

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

// TestLayers: a file's layer descriptions after a round trip through the
// format: shapes, parameters, the ANN's MACs and IF neurons, counted by hand
// for the lenet5-shaped network.
func TestLayers(t *testing.T) {
	net := lenetLike(rand.New(rand.NewPCG(3, 4)))
	net.Meta.SemanticsVersion = SemanticsVersion
	for _, n := range net.Nodes {
		if n.Name == "if2" {
			n.Threshold = []float32{0.5, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1.5}
			n.Reset, n.VInit = ResetZero, 0.25
		}
	}
	b, err := Encode(net)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	ls := got.Layers()
	if len(ls) != len(net.Nodes) {
		t.Fatalf("%d layers, want %d", len(ls), len(net.Nodes))
	}
	want := map[string]struct {
		shape   []int
		params  int
		macs    int64
		neurons int
	}{
		"c1":  {[]int{6, 28, 28}, 6*25 + 6, 6 * 28 * 28 * 25, 0},
		"if1": {[]int{6, 28, 28}, 0, 0, 6 * 28 * 28},
		"p1":  {[]int{6, 14, 14}, 0, 0, 0},
		"c2":  {[]int{16, 10, 10}, 16*150 + 16, 16 * 10 * 10 * 150, 0},
		"fl":  {[]int{400}, 0, 0, 0},
		"fc1": {[]int{120}, 120*400 + 120, 120 * 400, 0},
		"if4": {[]int{84}, 0, 0, 84},
		"fc3": {[]int{10}, 84*10 + 10, 840, 0},
	}
	for _, l := range ls {
		w, ok := want[l.Name]
		if !ok {
			continue
		}
		neurons := 0
		if l.IF != nil {
			neurons = l.IF.Neurons
		}
		if !slices.Equal(l.Shape, w.shape) || l.Params != w.params || l.ANNMACs != w.macs || neurons != w.neurons {
			t.Errorf("%s: shape %v params %d MACs %d neurons %d, want %v %d %d %d", l.Name, l.Shape, l.Params, l.ANNMACs, neurons, w.shape, w.params, w.macs, w.neurons)
		}
		if l.Name == "if2" && (l.IF.ThresholdMin != 0.5 || l.IF.ThresholdMax != 2 || l.IF.Thresholds != 16 || l.IF.Reset != ResetZero || l.IF.VInit != 0.25) {
			t.Errorf("if2: %+v", *l.IF)
		}
	}
}

// TestNotSNN: ANN models and bytes that are not ONNX are ErrNotSNN to
// Decode; an SNN file of another semantics version is refused, but not as
// that.
func TestNotSNN(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "models", "lenet5.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	// An ANN model whose own metadata this decoder would refuse (a key twice).
	prop := protowire.AppendString(protowire.AppendTag(nil, 1, protowire.BytesType), "author")
	prop = protowire.AppendString(protowire.AppendTag(prop, 2, protowire.BytesType), "x")
	dup := slices.Clone(b)
	for range 2 {
		dup = protowire.AppendBytes(protowire.AppendTag(dup, 14, protowire.BytesType), prop)
	}
	for name, in := range map[string][]byte{"ANN model": b, "ANN model, a metadata key twice": dup, "truncated": b[:100], "text": []byte("hello"), "empty": nil} {
		if _, err := Decode(in); !errors.Is(err, ErrNotSNN) {
			t.Errorf("%s: %v, not ErrNotSNN", name, err)
		}
	}
	net := lenetLike(rand.New(rand.NewPCG(3, 4)))
	net.Meta.SemanticsVersion = SemanticsVersion
	snn, err := Encode(net)
	if err != nil {
		t.Fatal(err)
	}
	key := []byte(KeySemanticsVersion)
	i := bytes.Index(snn, key)
	j := i + len(key) + bytes.IndexByte(snn[i+len(key):], '1')
	snn[j] = '7'
	if _, err := Decode(snn); err == nil || errors.Is(err, ErrNotSNN) || !strings.Contains(err.Error(), "semantics version 7") {
		t.Errorf("version 7: %v", err)
	}
}
