package convert

import (
	"math"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/snnconvert/snnconvert/eval/dataset"
	"github.com/snnconvert/snnconvert/importer"
	"github.com/snnconvert/snnconvert/snnrt"
)

// TestRoundTrip: every converted bundled model survives snnrt.Write →
// snnrt.Read bit for bit (weights, thresholds, attributes and metadata).
func TestRoundTrip(t *testing.T) {
	for _, path := range bundled(t) {
		name := strings.TrimSuffix(filepath.Base(path), ".onnx")
		t.Run(name, func(t *testing.T) {
			g, err := importer.ImportFile(path)
			if err != nil {
				t.Fatal(err)
			}
			pre, _ := dataset.PreprocessingFor(path)
			calib, err := dataset.Load("mnist:train:200", pre)
			if err != nil {
				t.Fatal(err)
			}
			net, _, err := Convert(g, Options{Calib: calib, CalibName: "mnist:train:200", SourceSHA256: strings.Repeat("ab", 32),
				Extra: map[string]string{"snn.preprocessing": `{"layout":"NCHW","scale":0.00392156862745098}`}})
			if err != nil {
				t.Fatal(err)
			}
			file := filepath.Join(t.TempDir(), name+".snn.onnx")
			if err := snnrt.Write(file, net); err != nil {
				t.Fatal(err)
			}
			back, err := snnrt.Read(file)
			if err != nil {
				t.Fatal(err)
			}
			if len(back.Nodes) != len(net.Nodes) {
				t.Fatalf("%d nodes read back, %d written", len(back.Nodes), len(net.Nodes))
			}
			for i, n := range net.Nodes {
				m := back.Nodes[i]
				for _, p := range [][2]*snnrt.Tensor{{n.W, m.W}, {n.B, m.B}} {
					if !sameBits(p[0], p[1]) {
						t.Errorf("node %q: tensor differs after the round trip", n.Name)
					}
				}
				if !sameFloats(n.Threshold, m.Threshold) || n.Reset != m.Reset || math.Float32bits(n.VInit) != math.Float32bits(m.VInit) ||
					n.Op != m.Op || n.Output != m.Output || !reflect.DeepEqual(n.Inputs, m.Inputs) {
					t.Errorf("node %q differs: wrote %+v, read %+v", n.Name, *n, *m)
				}
			}
			if back.Meta.Normalization != net.Meta.Normalization || back.Meta.SourceSHA256 != net.Meta.SourceSHA256 ||
				back.Meta.Extra["snn.preprocessing"] != net.Meta.Extra["snn.preprocessing"] || back.Input != net.Input || back.Output != net.Output {
				t.Errorf("metadata differs: wrote %+v, read %+v", net.Meta, back.Meta)
			}
		})
	}
}

func sameBits(a, b *snnrt.Tensor) bool {
	if a == nil || b == nil {
		return a == nil && b == nil || a == nil && len(b.Data) == 0 || b == nil && len(a.Data) == 0
	}
	return reflect.DeepEqual(a.Shape, b.Shape) && sameFloats(a.Data, b.Data)
}

func sameFloats(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}
