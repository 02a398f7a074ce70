// Package batch evaluates many models under many conversion settings.
//
// In: a YAML manifest (models × settings, each setting with its own T list and
// data set), an output directory and an Evaluator (eval.Evaluate in the CLI).
// Out: under the output directory, plan.json (every entry of the manifest with
// its stable ID), entries/<id>.json (one evaluation each, written atomically as
// it finishes, so a rerun skips what is done), and a summary in Markdown, CSV,
// JSON and HTML with one SVG plot per model (accuracy vs T, a line per
// setting).
//
// An entry's ID is a hash of what determines its result: the model file's
// (and source's) SHA-256, the settings, the data spec and the T list. Names
// and manifest order do not enter it, so renaming a model keeps its results
// and editing a setting re-runs only what the edit touched.
//
// Sharding: shard I of N runs the entries whose manifest index is I mod N and
// writes no summary; Merge combines shard directories into exactly the
// directory (and byte-identical summaries) an unsharded run writes. Summaries
// are a pure function of the plan and the entry results and leave out
// everything that differs between machines (paths of the output, timings).
package batch

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/snnconvert/snnconvert/eval"
	"github.com/snnconvert/snnconvert/eval/ci"
)

// Manifest is the YAML file a user writes.
//
//	data: mnist:test:1000        # default data set of every setting
//	T: [8, 16, 32, 64]           # default T list
//	models:
//	  - path: ../models/lenet5.onnx   # relative to the manifest
//	  - {name: mlp, path: ../models/mlp.onnx}
//	settings:
//	  - {name: p99.99}
//	  - {name: max, norm: max}
//	  - {name: zero-reset, reset: zero, T: [32, 128]}
type Manifest struct {
	Data string `yaml:"data"`
	T    []int  `yaml:"T"`
	// Batch is the simulation batch size of every evaluation (0: default).
	Batch int `yaml:"batch"`
	// Reference asks for the gorgonia cross-check of each source model.
	Reference bool          `yaml:"reference"`
	Models    []ModelSpec   `yaml:"models"`
	Settings  []SettingSpec `yaml:"settings"`
}

// ModelSpec names one model of the manifest.
type ModelSpec struct {
	// Name defaults to the file name without .onnx / .snn.onnx.
	Name string `yaml:"name"`
	Path string `yaml:"path"`
	// Source is the source .onnx of a *.snn.onnx Path.
	Source string `yaml:"source"`
}

// SettingSpec is one column of the models × settings product.
type SettingSpec struct {
	Name          string `yaml:"name"`
	eval.Settings `yaml:",inline"`
	// T and Data override the manifest's defaults for this setting.
	T    []int  `yaml:"T"`
	Data string `yaml:"data"`
}

// Entry is one model × setting evaluation.
type Entry struct {
	ID    string `json:"id"`
	Index int    `json:"index"`
	Model string `json:"model"`
	// Path and Source are as written in the manifest (relative to it), so a
	// plan reads the same on every machine.
	Path        string        `json:"path"`
	Source      string        `json:"source,omitempty"`
	ModelSHA256 string        `json:"model_sha256"`
	Setting     string        `json:"setting"`
	Settings    eval.Settings `json:"settings"`
	Data        string        `json:"data"`
	Ts          []int         `json:"T"`
	Batch       int           `json:"batch,omitempty"`
	Reference   bool          `json:"reference,omitempty"`

	// Where the files are on this machine.
	modelFile, sourceFile string
}

// Plan is a manifest expanded into its entries, in manifest order (models
// outer, settings inner).
type Plan struct {
	Version  int           `json:"version"`
	Settings []SettingSpec `json:"settings"`
	Entries  []Entry       `json:"entries"`
}

// PlanVersion is the plan.json format.
const PlanVersion = 1

var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]*$`)

// ReadManifest parses a manifest file and expands it; unknown keys are errors.
func ReadManifest(path string) (*Plan, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	m, err := ParseManifest(data)
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", path, err)
	}
	p, err := m.Expand(filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", path, err)
	}
	return p, nil
}

// ParseManifest decodes YAML, rejecting unknown keys and trailing documents.
func ParseManifest(data []byte) (*Manifest, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var m Manifest
	if err := dec.Decode(&m); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("empty manifest")
		}
		return nil, err
	}
	var extra any
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, errors.New("more than one YAML document")
	}
	return &m, nil
}

// Expand turns m into entries; model paths are relative to dir. It hashes
// every model file, so a missing or unreadable model fails here, before any
// evaluation starts.
func (m *Manifest) Expand(dir string) (*Plan, error) {
	if len(m.Models) == 0 {
		return nil, errors.New("no models")
	}
	if m.Batch < 0 {
		return nil, fmt.Errorf("batch %d: must not be negative", m.Batch)
	}
	settings := m.Settings
	if len(settings) == 0 {
		settings = []SettingSpec{{Name: "default"}}
	}
	seen := map[string]bool{}
	for i, s := range settings {
		if !namePattern.MatchString(s.Name) {
			return nil, fmt.Errorf("settings[%d]: name %q: want letters, digits and . _ + - (it names files and plot lines)", i, s.Name)
		}
		if seen[s.Name] {
			return nil, fmt.Errorf("setting %q: listed twice", s.Name)
		}
		seen[s.Name] = true
		if err := ci.ValidateSettings(s.Settings); err != nil {
			return nil, fmt.Errorf("setting %q: %w", s.Name, err)
		}
		if s.Data == "" && m.Data == "" {
			return nil, fmt.Errorf("setting %q: no data set (set data: at the top or in the setting)", s.Name)
		}
		ts := s.T
		if len(ts) == 0 {
			ts = m.T
		}
		if _, err := sortTs(ts); err != nil {
			return nil, fmt.Errorf("setting %q: %w", s.Name, err)
		}
	}
	p := &Plan{Version: PlanVersion, Settings: settings}
	names := map[string]bool{}
	byID := map[string]int{}
	for i, ms := range m.Models {
		if ms.Path == "" {
			return nil, fmt.Errorf("models[%d]: path is empty", i)
		}
		name := ms.Name
		if name == "" {
			name = strings.TrimSuffix(strings.TrimSuffix(filepath.Base(ms.Path), ".onnx"), ".snn")
		}
		if !namePattern.MatchString(name) {
			return nil, fmt.Errorf("models[%d] (%s): name %q: want letters, digits and . _ + -", i, ms.Path, name)
		}
		if names[name] {
			return nil, fmt.Errorf("model %q: listed twice (give one a name:)", name)
		}
		names[name] = true
		modelFile, sourceFile := resolve(dir, ms.Path), resolve(dir, ms.Source)
		sum, err := fileSHA256(modelFile)
		if err != nil {
			return nil, fmt.Errorf("model %q: %w", name, err)
		}
		var srcSum string
		if sourceFile != "" {
			if srcSum, err = fileSHA256(sourceFile); err != nil {
				return nil, fmt.Errorf("model %q: source: %w", name, err)
			}
		}
		for _, s := range settings {
			e := Entry{
				Index: len(p.Entries), Model: name, Path: filepath.ToSlash(ms.Path), Source: filepath.ToSlash(ms.Source),
				ModelSHA256: sum, Setting: s.Name, Settings: s.Settings, Data: s.Data, Ts: s.T,
				Batch: m.Batch, Reference: m.Reference, modelFile: modelFile, sourceFile: sourceFile,
			}
			if e.Data == "" {
				e.Data = m.Data
			}
			if len(e.Ts) == 0 {
				e.Ts = m.T
			}
			e.Ts, _ = sortTs(e.Ts)
			if e.ID, err = entryID(e, srcSum); err != nil {
				return nil, fmt.Errorf("model %q, setting %q: %w", name, s.Name, err)
			}
			if j, dup := byID[e.ID]; dup {
				o := p.Entries[j]
				return nil, fmt.Errorf("entries %s/%s and %s/%s are the same evaluation (same model file, settings, data and T)", o.Model, o.Setting, e.Model, e.Setting)
			}
			byID[e.ID] = e.Index
			p.Entries = append(p.Entries, e)
		}
	}
	return p, nil
}

// sortTs returns ts sorted, rejecting an empty list, non-positive and repeated Ts.
func sortTs(ts []int) ([]int, error) {
	if len(ts) == 0 {
		return nil, errors.New("no T list (set T: at the top or in the setting)")
	}
	out := append([]int(nil), ts...)
	sort.Ints(out)
	for i, t := range out {
		if t <= 0 {
			return nil, fmt.Errorf("T=%d: must be positive", t)
		}
		if i > 0 && out[i-1] == t {
			return nil, fmt.Errorf("T=%d listed twice", t)
		}
	}
	return out, nil
}

// entryID hashes what determines an entry's result.
func entryID(e Entry, sourceSHA256 string) (string, error) {
	key, err := json.Marshal(struct {
		Model, Source string
		Settings      eval.Settings
		Data          string
		Ts            []int
		Reference     bool
	}{e.ModelSHA256, sourceSHA256, e.Settings, e.Data, e.Ts, e.Reference})
	if err != nil {
		return "", err
	}
	h := sha256.Sum256(key)
	return hex.EncodeToString(h[:8]), nil
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func resolve(dir, path string) string {
	if path == "" || filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(dir, filepath.FromSlash(path))
}
