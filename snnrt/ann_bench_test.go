package snnrt_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/snnconvert/snnconvert/ann"
	"github.com/snnconvert/snnconvert/eval/dataset"
	"github.com/snnconvert/snnconvert/importer"
	"github.com/snnconvert/snnconvert/models"
	"github.com/snnconvert/snnconvert/snnrt"
)

// BenchmarkBundledANN: images/s of every bundled source model on the ann
// executor (batch 64, GOMAXPROCS workers), the baseline scripts/bench.sh sets
// the SNN's speed against (SNN cost / (T × ANN cost)). A dense ANN's cost
// does not depend on the pixel values, so the input is a fixed ramp.
func BenchmarkBundledANN(b *testing.B) {
	paths, err := filepath.Glob(filepath.Join(models.Dir(), "*.onnx"))
	if err != nil || len(paths) == 0 {
		b.Fatalf("no bundled models in %s: %v", models.Dir(), err)
	}
	const batch = 64
	for _, path := range paths {
		name := strings.TrimSuffix(filepath.Base(path), ".onnx")
		b.Run(name, func(b *testing.B) {
			if _, err := os.Stat(path); err != nil {
				b.Fatal(err)
			}
			g, err := importer.ImportFile(path)
			if err != nil {
				b.Fatal(err)
			}
			ex, err := ann.NewExecutor(g, ann.ExecOptions{})
			if err != nil {
				b.Fatal(err)
			}
			in := g.Inputs[0]
			shape := append([]int{batch}, in.Shape...)
			n := 1
			for _, d := range shape {
				n *= d
			}
			x := &ann.Tensor{Shape: shape, Data: make([]float32, n)}
			for i := range x.Data {
				x.Data[i] = float32(i%255) / 255
			}
			feed := map[string]*ann.Tensor{in.Name: x}
			if _, err := ex.Run(feed); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := ex.Run(feed); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "images/s")
		})
	}
}

// BenchmarkBundledSNN runs every *.snn.onnx in $SNNRT_BUNDLED (converted
// bundled models; scripts/bench.sh sets it) on mnist:test:$SNNRT_BUNDLED_N
// (default 256) at T=32 and 128: batch 64, GOMAXPROCS workers, analog,
// compiled once (as eval and run do for a whole data set); "blank" runs as
// many all-zero inputs (a blank image under x/255 preprocessing, which every
// bundled model uses). Each digit run first measures the scatter-add limit
// (limit-adds/s) and reports its events/s as a fraction of it (of-limit).
// Without SNNRT_BUNDLED there is nothing to run and it skips.
func BenchmarkBundledSNN(b *testing.B) {
	dir := os.Getenv("SNNRT_BUNDLED")
	if dir == "" {
		b.Skip("SNNRT_BUNDLED (a directory of converted *.snn.onnx) is not set")
	}
	n := 256
	if s := os.Getenv("SNNRT_BUNDLED_N"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 {
			b.Fatalf("SNNRT_BUNDLED_N=%q: want a positive integer", s)
		}
		n = v
	}
	paths, err := filepath.Glob(filepath.Join(dir, "*.snn.onnx"))
	if err != nil || len(paths) == 0 {
		b.Fatalf("no *.snn.onnx in %s: %v", dir, err)
	}
	for _, path := range paths {
		net, err := snnrt.Read(path)
		if err != nil {
			b.Fatal(err)
		}
		p := dataset.Preprocessing{Layout: dataset.LayoutNCHW, Shape: net.InputShape, Scale: 1.0 / 255}
		if s, ok := net.Meta.Extra[snnrt.KeyPreprocessing]; ok {
			if err := json.Unmarshal([]byte(s), &p); err != nil {
				b.Fatalf("%s: %v", path, err)
			}
		}
		set, err := dataset.Load(fmt.Sprintf("mnist:test:%d", n), p)
		if err != nil {
			b.Fatal(err)
		}
		name := strings.TrimSuffix(filepath.Base(path), ".snn.onnx")
		blank := &snnrt.Samples{Shape: set.SampleShape(), X: make([]float32, n*set.SampleSize())}
		prog, err := snnrt.Compile(net, snnrt.EncodingAnalog, nil)
		if err != nil {
			b.Fatal(err)
		}
		for _, T := range []int{32, 128} {
			for _, in := range []struct {
				name string
				x    snnrt.Input
			}{{"blank", blank}, {"digit", set}} {
				b.Run(fmt.Sprintf("%s/T=%d/%s", name, T, in.name), func(b *testing.B) {
					b.ReportAllocs()
					// The limit of this very minute, for digits (b.Loop
					// starts the timer afterwards).
					var limit float64
					if in.name == "digit" {
						limit = snnrt.ScatterAddLimit(600 * time.Millisecond)
					}
					var acs, spikes float64
					var correct int
					for b.Loop() {
						res, err := prog.Run(in.x, snnrt.RunOptions{T: T, Batch: 64})
						if err != nil {
							b.Fatal(err)
						}
						acs += float64(res.ACs)
						for _, l := range res.Layers {
							spikes += float64(l.Spikes)
						}
						acc, err := res.Accuracy(set.Labels)
						if err != nil {
							b.Fatal(err)
						}
						correct = int(acc[len(acc)-1]*float64(n) + 0.5)
					}
					sec := b.Elapsed().Seconds()
					b.ReportMetric(float64(b.N*n)/sec, "images/s")
					b.ReportMetric(acs/sec, "events/s")
					if limit > 0 {
						b.ReportMetric(limit, "limit-adds/s")
						b.ReportMetric(acs/sec/limit, "of-limit")
					}
					b.ReportMetric(spikes/float64(b.N*n), "spikes/image")
					if in.name == "digit" {
						b.ReportMetric(float64(correct)/float64(n), "accuracy")
					}
				})
			}
		}
	}
}
