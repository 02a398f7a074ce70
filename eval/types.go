// Package eval compares a converted SNN with its source ANN, reports where
// accuracy is lost, gates accuracy in CI and evaluates many models in batch.
//
// In: an ONNX model (converted on the fly) or a *.snn.onnx file plus its source,
// a data-set spec (package eval/dataset) and conversion settings.
// Out: a Result (ANN accuracy, SNN accuracy and agreement per T, per-layer
// correlation and firing rates, operation counts, energy estimate, speed),
// rendered as a table, JSON, Markdown/HTML reports with SVG plots, JUnit XML.
package eval

import "github.com/snnconvert/snnconvert/eval/dataset"

// Settings are the conversion and simulation knobs a user (or a baseline or
// batch manifest) can set. Zero values mean the tool's defaults.
type Settings struct {
	Norm       string   `json:"norm,omitempty" yaml:"norm,omitempty"`             // channel (default), percentile, max
	Percentile float64  `json:"percentile,omitempty" yaml:"percentile,omitempty"` // default 99.99
	Reset      string   `json:"reset,omitempty" yaml:"reset,omitempty"`           // subtract (default), zero
	VInit      *float64 `json:"v_init,omitempty" yaml:"v_init,omitempty"`         // default 0.5
	Encoding   string   `json:"encoding,omitempty" yaml:"encoding,omitempty"`     // analog (default), rate, poisson
	Calib      string   `json:"calib,omitempty" yaml:"calib,omitempty"`           // default mnist:train:1000
	Seed       int64    `json:"seed,omitempty" yaml:"seed,omitempty"`
	Auto       bool     `json:"auto,omitempty" yaml:"auto,omitempty"`
	TargetT    int      `json:"target_t,omitempty" yaml:"target_t,omitempty"` // --auto target, default 32
}

// Options say what to evaluate.
type Options struct {
	// Model is an .onnx file (converted with Settings) or a *.snn.onnx file.
	Model string
	// Source is the source .onnx of a *.snn.onnx Model (needed for ANN figures).
	Source string
	// Data is a data-set spec (mnist:test, mnist:test:1000, ...).
	Data string
	// Ts are the timesteps to report; the SNN runs once to max(Ts).
	Ts       []int
	Settings Settings
	// Batch is the simulation batch size (0: default).
	Batch int
	// Reference asks for the gorgonia cross-check of the ANN where supported.
	Reference bool
	// Progress receives stage updates; nil for none.
	Progress Progress
	// Preprocessing overrides the model's input preprocessing, which is
	// otherwise looked up with dataset.PreprocessingFor (never guessed).
	Preprocessing *dataset.Preprocessing
}

// Progress receives updates of long stages (calibration, ANN, SNN).
type Progress interface {
	Stage(name string, total int)
	Add(n int)
	Done()
}

// Point is the SNN at one timestep count.
type Point struct {
	T         int     `json:"T"`
	Accuracy  float64 `json:"accuracy"`
	Correct   int     `json:"correct"`
	Agreement float64 `json:"agreement"`
	GapPP     float64 `json:"gap_pp"` // ANN − SNN accuracy, percentage points
}

// LayerStat tells where accuracy is lost.
type LayerStat struct {
	Name        string  `json:"name"`
	Neurons     int     `json:"neurons"`
	Correlation float64 `json:"correlation"` // Pearson, ANN activation (scaled) vs SNN rate
	MeanRate    float64 `json:"mean_rate"`   // spikes per neuron per step
	// ANNValue is the ANN activation this IF layer approximates.
	ANNValue string `json:"ann_value,omitempty"`
	// CorrUndefined: one side was constant (a silent layer, say), so
	// Correlation holds 0 rather than a number JSON cannot carry.
	CorrUndefined bool `json:"correlation_undefined,omitempty"`
}

// RefCheck is the independent (gorgonia) check of the ANN executor.
type RefCheck struct {
	Backend    string  `json:"backend"`
	Supported  bool    `json:"supported"`
	Samples    int     `json:"samples,omitempty"`
	MaxAbsDiff float64 `json:"max_abs_diff,omitempty"`
	Agree      bool    `json:"agree"`
	Note       string  `json:"note,omitempty"`
}

// Result is one evaluation.
type Result struct {
	Model       string    `json:"model"`
	ModelSHA256 string    `json:"model_sha256"`
	Data        string    `json:"data"`
	Samples     int       `json:"samples"`
	Settings    Settings  `json:"settings"`
	ANNAccuracy float64   `json:"ann_accuracy"`
	ANNCorrect  int       `json:"ann_correct"`
	Reference   *RefCheck `json:"reference,omitempty"`
	Points      []Point   `json:"points"`
	// Smallest T (among the reported ones) at which the SNN is within 0.1 / 1
	// percentage point of the ANN; 0 when none is.
	TWithin01pp int         `json:"t_within_0_1pp"`
	TWithin1pp  int         `json:"t_within_1pp"`
	Layers      []LayerStat `json:"layers"`
	// Per image, at max T.
	ACs          float64 `json:"acs_per_image"`
	MACs         float64 `json:"macs_per_image"`
	ANNMACs      float64 `json:"ann_macs_per_image"`
	EnergySNNuJ  float64 `json:"energy_snn_uj_estimate"`
	EnergyANNuJ  float64 `json:"energy_ann_uj_estimate"`
	ImagesPerSec float64 `json:"snn_images_per_sec"`
	Chosen       string  `json:"auto_choice,omitempty"` // what --auto picked and why
	// HasMaxPool: the SNN uses spiking max pooling (an approximation the report explains).
	HasMaxPool bool     `json:"has_max_pool,omitempty"`
	Warnings   []string `json:"warnings,omitempty"`
	// Raster is the spike raster of one sample for the report; it stays out of
	// the JSON because it is bulky and only the plot needs it.
	Raster *Raster `json:"-"`
}

// Raster holds every spike of a few layers for one sample.
type Raster struct {
	Sample int           `json:"sample"`
	Label  int           `json:"label"`
	Steps  int           `json:"steps"`
	Layers []RasterLayer `json:"layers"`
}

// RasterLayer is one layer's spikes: Spikes[t] lists the (flat, per-sample)
// indices of the neurons that fired at step t+1.
type RasterLayer struct {
	Name    string    `json:"name"`
	Neurons int       `json:"neurons"`
	Spikes  [][]int32 `json:"spikes"`
}
