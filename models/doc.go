// Package models holds the bundled ONNX models and their MANIFEST.json, and
// reads that manifest.
//
// In: models/MANIFEST.json, written by scripts/train_mnist.py.
// Out: the Entry of each bundled model (file, sha256, architecture, data set,
// preprocessing, exporter, seed, training command and time, test accuracy).
//
// The models are trained by the project's own script on the full MNIST
// training set with fixed seeds and exported at opset 13 with a dynamic batch
// axis; the files are committed so tests and CI never need PyTorch.
package models

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
)

// Preprocessing is how raw MNIST pixels become the model input.
type Preprocessing struct {
	Layout      string    `json:"layout"`
	Shape       []int     `json:"shape"`
	Scale       float64   `json:"scale"`
	Mean        []float64 `json:"mean"`
	Std         []float64 `json:"std"`
	Description string    `json:"description"`
}

// Entry is one bundled model.
type Entry struct {
	Name            string        `json:"name"`
	File            string        `json:"file"`
	SHA256          string        `json:"sha256"`
	Architecture    string        `json:"architecture"`
	ONNXOps         []string      `json:"onnx_ops"`
	Dataset         string        `json:"dataset"`
	Preprocessing   Preprocessing `json:"preprocessing"`
	Input           string        `json:"input"`
	Output          string        `json:"output"`
	OutputKind      string        `json:"output_kind"`
	Opset           int           `json:"opset"`
	Exporter        string        `json:"exporter"`
	TorchVersion    string        `json:"torch_version"`
	Seed            int64         `json:"seed"`
	Epochs          int           `json:"epochs"`
	TrainingCommand string        `json:"training_command"`
	TrainingSeconds float64       `json:"training_seconds"`
	TrainedAt       string        `json:"trained_at"`
	TestAccuracy    float64       `json:"test_accuracy"`
	TestCorrect     int           `json:"test_correct"`
	TestSamples     int           `json:"test_samples"`
}

// Manifest is models/MANIFEST.json.
type Manifest struct {
	Models []Entry `json:"models"`
}

// Dir is the directory of this package's source, where the bundled models live.
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(file)
}

// ReadManifest reads a MANIFEST.json.
func ReadManifest(path string) (*Manifest, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &m, nil
}

// Find returns the entry named name.
func (m *Manifest) Find(name string) (*Entry, bool) {
	for i := range m.Models {
		if m.Models[i].Name == name {
			return &m.Models[i], true
		}
	}
	return nil, false
}
