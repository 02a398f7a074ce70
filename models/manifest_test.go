package models

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
)

// The accuracy each bundled model must reach on the 10,000 MNIST test images (issue 2).
var minAccuracy = map[string]float64{
	"mlp":        0.980,
	"lenet5":     0.990,
	"lenet5_avg": 0.989,
	// Without biases (Diehl et al. 2015's setup): a blank image fires nothing.
	"lenet5_nobias": 0.990,
	"cnn_bn":        0.990,
	"resnet_small":  0.990,
	"cnn_relu6":     0.990,
}

func TestManifestListsEveryModelWithItsHash(t *testing.T) {
	m, err := ReadManifest(filepath.Join(Dir(), "MANIFEST.json"))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, e := range m.Models {
		t.Run(e.Name, func(t *testing.T) {
			seen[e.Name] = true
			b, err := os.ReadFile(filepath.Join(Dir(), e.File))
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(b)
			if got := hex.EncodeToString(sum[:]); got != e.SHA256 {
				t.Errorf("%s: sha256 %s, MANIFEST says %s", e.File, got, e.SHA256)
			}
			if len(b) > 4<<20 {
				t.Errorf("%s is %d bytes, want well under 4 MiB", e.File, len(b))
			}
			if e.TestSamples != 10000 || e.TestCorrect != int(e.TestAccuracy*10000+0.5) {
				t.Errorf("test accuracy %v from %d/%d samples is not a full-test-set figure", e.TestAccuracy, e.TestCorrect, e.TestSamples)
			}
			if min, ok := minAccuracy[e.Name]; ok && e.TestAccuracy < min {
				t.Errorf("test accuracy %.4f below the required %.4f", e.TestAccuracy, min)
			}
			if e.Opset != 13 || e.Input != "input" || e.Output != "logits" || e.Preprocessing.Scale == 0 {
				t.Errorf("export contract broken: opset %d, input %q, output %q, preprocessing %+v", e.Opset, e.Input, e.Output, e.Preprocessing)
			}
			if e.Seed == 0 || e.TrainingCommand == "" || e.Exporter == "" || e.Architecture == "" {
				t.Errorf("provenance incomplete: %+v", e)
			}
		})
	}
	for name := range minAccuracy {
		if !seen[name] {
			t.Errorf("MANIFEST.json lacks bundled model %q", name)
		}
	}
}
