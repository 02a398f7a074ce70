// Package ci gates SNN accuracy in continuous integration.
//
// In: a baseline file (JSON; models, data set, conversion settings and, per
// gated timestep count T, the expected accuracy and the n it was measured on)
// and an Evaluator (eval.Evaluate in the CLI, a deterministic double in tests).
// Out: a Report with one Case per model × gated T, rendered as JSON or JUnit
// XML, and the verdict the CLI turns into its exit code.
//
// The rule. Let b be the baseline accuracy at T, tol the tolerance in
// percentage points, c the confidence (default 0.95) and k correct out of n
// the accuracy observed now. The case fails exactly when
//
//	WilsonUpper(k, n, c) < b − tol/100
//
// where WilsonUpper is the one-sided Wilson score upper bound at level c
// (z = Φ⁻¹(c), 1.645 for 0.95). In words: the gate fails only when even the
// most optimistic accuracy consistent with the observation at confidence c is
// below what the baseline allows, so a small test set fails only on a drop its
// size can actually resolve. With n = 1000, b = 99.0 % and tol = 0.5 pp the
// run fails from 978 correct down (upper bound of 978/1000 is 98.44 %), and
// passes at 979 (98.53 %).
package ci

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/snnconvert/snnconvert/eval"
)

// Evaluator runs one evaluation; the CLI passes eval.Evaluate.
type Evaluator func(ctx context.Context, opt eval.Options) (*eval.Result, error)

// BaselineVersion is the baseline file format this package reads and writes.
const BaselineVersion = 1

// Defaults used when a baseline leaves them out.
const (
	DefaultTolerancePP = 0.5
	DefaultConfidence  = Confidence(0.95)
)

// Baseline is the file check reads: the evaluations to re-run and what they
// must still reach.
type Baseline struct {
	Version int `json:"version"`
	// TolerancePP is how many percentage points below the baseline accuracy
	// a run may fall (before the Wilson bound is applied); 0 means
	// DefaultTolerancePP, check --tolerance overrides it.
	TolerancePP float64 `json:"tolerance_pp,omitempty"`
	// Confidence of the one-sided Wilson bound; 0 means DefaultConfidence.
	Confidence Confidence `json:"confidence,omitempty"`
	Models     []Model    `json:"models"`
}

// Model is one model's gated evaluation.
type Model struct {
	// Name labels the model in reports and JUnit (unique in the file).
	Name string `json:"name"`
	// Path is the .onnx (or *.snn.onnx) file, relative to the baseline file's
	// directory unless absolute.
	Path string `json:"model"`
	// Source is the source .onnx of a *.snn.onnx Path, same convention.
	Source string `json:"source,omitempty"`
	// SHA256 of the model file the baseline was measured on; a mismatch is
	// reported as a warning (the gate still judges accuracy).
	SHA256   string        `json:"model_sha256,omitempty"`
	Data     string        `json:"data"`
	Settings eval.Settings `json:"settings"`
	// ANNAccuracy is informational: the source model's accuracy when recorded.
	ANNAccuracy float64 `json:"ann_accuracy,omitempty"`
	Gates       []Gate  `json:"gates"`
}

// Gate is the expected SNN accuracy at one T.
type Gate struct {
	T        int     `json:"T"`
	Accuracy float64 `json:"accuracy"`
	// N is the number of samples Accuracy was measured on.
	N int `json:"n"`
}

// ReadBaseline reads and validates a baseline file. Unknown fields are
// errors: a misspelt "tolerance_pp" must not silently fall back to a default.
func ReadBaseline(path string) (*Baseline, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("baseline: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var b Baseline
	if err := dec.Decode(&b); err != nil {
		return nil, fmt.Errorf("baseline %s: %w", path, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("baseline %s: trailing data after the JSON object", path)
	}
	if err := b.Validate(); err != nil {
		return nil, fmt.Errorf("baseline %s: %w", path, err)
	}
	return &b, nil
}

// Validate reports the first thing in b that check could not act on.
func (b *Baseline) Validate() error {
	if b.Version != BaselineVersion {
		return fmt.Errorf("version %d: this snnconvert reads baseline version %d", b.Version, BaselineVersion)
	}
	if b.TolerancePP < 0 || math.IsNaN(b.TolerancePP) || math.IsInf(b.TolerancePP, 0) {
		return fmt.Errorf("tolerance_pp %v: want a finite value ≥ 0", b.TolerancePP)
	}
	if b.Confidence != 0 {
		if err := b.Confidence.Validate(); err != nil {
			return err
		}
	}
	if len(b.Models) == 0 {
		return errors.New("no models to check")
	}
	seen := map[string]bool{}
	for i, m := range b.Models {
		if m.Name == "" {
			return fmt.Errorf("models[%d]: name is empty", i)
		}
		if seen[m.Name] {
			return fmt.Errorf("model %q: listed twice", m.Name)
		}
		seen[m.Name] = true
		if err := m.validate(); err != nil {
			return fmt.Errorf("model %q: %w", m.Name, err)
		}
	}
	return nil
}

func (m *Model) validate() error {
	if m.Path == "" {
		return errors.New(`"model" (the file to evaluate) is empty`)
	}
	if m.Data == "" {
		return errors.New(`"data" is empty`)
	}
	if err := ValidateSettings(m.Settings); err != nil {
		return err
	}
	if len(m.Gates) == 0 {
		return errors.New("no gates")
	}
	seen := map[int]bool{}
	for _, g := range m.Gates {
		switch {
		case g.T <= 0:
			return fmt.Errorf("gate T=%d: T must be positive", g.T)
		case seen[g.T]:
			return fmt.Errorf("gate T=%d: listed twice", g.T)
		case math.IsNaN(g.Accuracy) || g.Accuracy < 0 || g.Accuracy > 1:
			return fmt.Errorf("gate T=%d: accuracy %v is not a fraction in [0, 1]", g.T, g.Accuracy)
		case g.N <= 0:
			return fmt.Errorf("gate T=%d: n must be positive", g.T)
		}
		seen[g.T] = true
	}
	return nil
}

// ValidateSettings rejects setting values no conversion accepts, so a typo in
// a baseline or manifest fails before any model runs.
func ValidateSettings(s eval.Settings) error {
	oneOf := func(field, v string, ok ...string) error {
		if v == "" {
			return nil
		}
		for _, o := range ok {
			if v == o {
				return nil
			}
		}
		return fmt.Errorf("%s %q: want one of %s", field, v, strings.Join(ok, ", "))
	}
	if err := oneOf("norm", s.Norm, "percentile", "max", "channel"); err != nil {
		return err
	}
	if err := oneOf("reset", s.Reset, "subtract", "zero"); err != nil {
		return err
	}
	if err := oneOf("encoding", s.Encoding, "analog", "rate", "poisson"); err != nil {
		return err
	}
	if s.Percentile != 0 && (math.IsNaN(s.Percentile) || s.Percentile <= 0 || s.Percentile > 100) {
		return fmt.Errorf("percentile %v: want a value in (0, 100]", s.Percentile)
	}
	if s.VInit != nil && (math.IsNaN(*s.VInit) || math.IsInf(*s.VInit, 0)) {
		return fmt.Errorf("v_init %v: must be finite", *s.VInit)
	}
	if s.TargetT < 0 {
		return fmt.Errorf("target_t %d: must not be negative", s.TargetT)
	}
	return nil
}

// Tolerance is b's tolerance in percentage points, defaults applied.
func (b *Baseline) Tolerance() float64 {
	if b.TolerancePP == 0 {
		return DefaultTolerancePP
	}
	return b.TolerancePP
}

// Level is b's confidence, defaults applied.
func (b *Baseline) Level() Confidence {
	if b.Confidence == 0 {
		return DefaultConfidence
	}
	return b.Confidence
}

// Record turns an evaluation of the model at path into a baseline entry that
// gates every T the evaluation reported, at the accuracy it reached.
func Record(name, path, source string, r *eval.Result) (Model, error) {
	if len(r.Points) == 0 {
		return Model{}, fmt.Errorf("model %q: evaluation reported no timesteps", name)
	}
	m := Model{
		Name:        name,
		Path:        path,
		Source:      source,
		SHA256:      r.ModelSHA256,
		Data:        r.Data,
		Settings:    r.Settings,
		ANNAccuracy: r.ANNAccuracy,
	}
	for _, p := range r.Points {
		m.Gates = append(m.Gates, Gate{T: p.T, Accuracy: p.Accuracy, N: r.Samples})
	}
	return m, nil
}

// WriteBaseline validates b and writes it to path atomically.
func WriteBaseline(path string, b *Baseline) error {
	if err := b.Validate(); err != nil {
		return fmt.Errorf("baseline %s: %w", path, err)
	}
	data, err := json.MarshalIndent(b, "", "  ")
	if err != nil {
		return fmt.Errorf("baseline %s: %w", path, err)
	}
	return WriteFileAtomic(path, append(data, '\n'))
}

// RelativeTo rewrites path (relative to the working directory) relative to
// the directory of file, so the file stays valid wherever it is read from;
// a path that cannot be made relative is made absolute.
func RelativeTo(file, path string) string {
	absFile, err1 := filepath.Abs(file)
	absPath, err2 := filepath.Abs(path)
	if err1 != nil || err2 != nil {
		return path
	}
	rel, err := filepath.Rel(filepath.Dir(absFile), absPath)
	if err != nil {
		return absPath
	}
	return filepath.ToSlash(rel)
}

// resolve reads a path written relative to the directory of file.
func resolve(file, path string) string {
	if path == "" || filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(filepath.Dir(file), filepath.FromSlash(path))
}

// LimitData caps a counted data-set spec (mnist:SPLIT[:N], cifar10:PART[:N])
// at n samples; n ≤ 0 leaves spec alone. Other kinds have no count to cap.
func LimitData(spec string, n int) (string, error) {
	if n <= 0 {
		return spec, nil
	}
	parts := strings.Split(spec, ":")
	if (parts[0] != "mnist" && parts[0] != "cifar10") || len(parts) < 2 || len(parts) > 3 {
		return "", fmt.Errorf("data %q: a sample limit applies only to mnist:SPLIT[:N] and cifar10:PART[:N]", spec)
	}
	if len(parts) == 3 {
		have, err := strconv.Atoi(parts[2])
		if err != nil || have <= 0 {
			return "", fmt.Errorf("data %q: count %q is not a positive integer", spec, parts[2])
		}
		if have <= n {
			return spec, nil
		}
	}
	return parts[0] + ":" + parts[1] + ":" + strconv.Itoa(n), nil
}

// WriteFileAtomic writes data to a temporary file beside path and renames it
// over path, so a reader never sees a half-written file and an interrupted
// run leaves the previous version intact.
func WriteFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, werr := f.Write(data)
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Chmod(tmp, 0o644)
	}
	if werr == nil {
		werr = os.Rename(tmp, path)
	}
	if werr != nil {
		os.Remove(tmp)
		return fmt.Errorf("%s: %w", path, werr)
	}
	return nil
}
