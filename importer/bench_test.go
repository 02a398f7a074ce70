package importer

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/snnconvert/snnconvert/ann"
	"github.com/snnconvert/snnconvert/models"
)

// BenchmarkImport measures importing the bundled models from bytes.
func BenchmarkImport(b *testing.B) {
	for _, name := range []string{"mlp", "lenet5", "resnet_small"} {
		data, err := os.ReadFile(filepath.Join(models.Dir(), name+".onnx"))
		if err != nil {
			b.Fatal(err)
		}
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, err := Import(data, Options{Name: name}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkLenet5ANN measures the ann executor on the imported lenet5 at
// batch 1 and 64; images/s is reported as a metric.
func BenchmarkLenet5ANN(b *testing.B) {
	g, err := ImportFile(filepath.Join(models.Dir(), "lenet5.onnx"))
	if err != nil {
		b.Fatal(err)
	}
	for _, batch := range []int{1, 64} {
		b.Run(fmt.Sprintf("batch%d", batch), func(b *testing.B) {
			ex, err := ann.NewExecutor(g, ann.ExecOptions{})
			if err != nil {
				b.Fatal(err)
			}
			defer runtime.KeepAlive(ex)
			x := &ann.Tensor{Shape: []int{batch, 1, 28, 28}, Data: make([]float32, batch*784)}
			for i := range x.Data {
				x.Data[i] = float32(i%255) / 255
			}
			in := map[string]*ann.Tensor{g.Inputs[0].Name: x}
			for b.Loop() {
				if _, err := ex.Run(in); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(batch*b.N)/b.Elapsed().Seconds(), "images/s")
		})
	}
}
