package convert

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/snnconvert/snnconvert/eval/dataset"
	"github.com/snnconvert/snnconvert/importer"
	"github.com/snnconvert/snnconvert/snnrt"
)

func argmax(v []float32) int {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return best
}

// TestSNNAgreesWithANN runs every converted bundled model with snnrt and
// checks that the readout converges to the ANN's: agreement with the ANN's
// predictions on 1000 test images must not fall as T doubles from 64 (beyond
// sampling noise) and must reach ≥ 99 % at T=256. SNNCONVERT_AGREE_MODELS
// selects models (comma-separated); SNNCONVERT_AGREE_N the number of images.
func TestSNNAgreesWithANN(t *testing.T) {
	if testing.Short() {
		t.Skip("simulates 1000 images per model")
	}
	names := []string{"mlp", "lenet5", "lenet5_avg", "lenet5_nobias", "cnn_relu6", "cnn_bn", "resnet_small"}
	if s := os.Getenv("SNNCONVERT_AGREE_MODELS"); s != "" {
		names = strings.Split(s, ",")
	}
	n := 1000
	if s := os.Getenv("SNNCONVERT_AGREE_N"); s != "" {
		fmt.Sscan(s, &n)
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join("../models", name+".onnx")
			if _, err := os.Stat(path); err != nil {
				t.Skipf("%s not trained yet", path)
			}
			g, err := importer.ImportFile(path)
			if err != nil {
				t.Fatal(err)
			}
			pre, _ := dataset.PreprocessingFor(path)
			calib, err := dataset.Load("mnist:train:1000", pre)
			if err != nil {
				t.Fatal(err)
			}
			test, err := dataset.Load(fmt.Sprintf("mnist:test:%d", n), pre)
			if err != nil {
				t.Fatal(err)
			}
			net, rep, err := Convert(g, Options{Calib: calib, CalibName: "mnist:train:1000"})
			if err != nil {
				t.Fatal(err)
			}
			ref := run(t, rep.Graph, setTensor(test, n))[rep.Graph.Outputs[0]]
			classes := len(ref.Data) / n
			annPred := make([]int, n)
			annOK := 0
			for i := range annPred {
				annPred[i] = argmax(ref.Data[i*classes : (i+1)*classes])
				if annPred[i] == test.Labels[i] {
					annOK++
				}
			}
			res, err := snnrt.Run(net, test, snnrt.RunOptions{T: 256})
			if err != nil {
				t.Fatal(err)
			}
			prevAgree := 0
			for ci, T := range res.Checkpoints {
				agree, ok := 0, 0
				for i, p := range res.Predictions[ci] {
					if p == annPred[i] {
						agree++
					}
					if p == test.Labels[i] {
						ok++
					}
				}
				t.Logf("%s T=%-4d agreement %.2f%%  SNN accuracy %.2f%%  (ANN %.2f%%)", name, T,
					100*float64(agree)/float64(n), 100*float64(ok)/float64(n), 100*float64(annOK)/float64(n))
				if T >= 64 && agree < prevAgree-n/200 {
					t.Errorf("T=%d: agreement fell to %d of %d images from %d at T=%d", T, agree, n, prevAgree, T/2)
				}
				prevAgree = agree
				if T == 256 && float64(agree) < 0.99*float64(n) {
					t.Errorf("T=256: SNN agrees with the ANN on %d of %d images, want ≥ 99%%", agree, n)
				}
			}
			var rates []string
			for _, l := range res.Layers {
				rates = append(rates, fmt.Sprintf("%s %.3f", l.Name, l.Rate))
			}
			t.Logf("firing rates: %s", strings.Join(rates, ", "))
		})
	}
}
