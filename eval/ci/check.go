package ci

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/snnconvert/snnconvert/eval"
)

// Status is the verdict of one case.
type Status string

const (
	StatusPass  Status = "pass"
	StatusFail  Status = "fail"
	StatusError Status = "error" // the evaluation itself failed (bad model, bad data)
)

// Options adjust a check run.
type Options struct {
	// TolerancePP overrides the baseline's tolerance when non-nil.
	TolerancePP *float64
	// Confidence overrides the baseline's confidence when non-zero.
	Confidence Confidence
	// DataLimit caps every model's data set at this many samples (0: as listed).
	DataLimit int
	// Batch is the simulation batch size passed to the evaluator (0: default).
	Batch int
	// Progress is handed to the evaluator; nil for none.
	Progress eval.Progress
	// OnModel, when set, is told before each model is evaluated.
	OnModel func(i, n int, name string)
}

// Case is one model × gated T.
type Case struct {
	Model string `json:"model"`
	T     int    `json:"T"`
	// Baseline accuracy and the n it was measured on.
	Baseline  float64 `json:"baseline_accuracy"`
	BaselineN int     `json:"baseline_n"`
	// Threshold is Baseline − tolerance; the case fails when Upper < Threshold.
	Threshold float64 `json:"threshold"`
	Accuracy  float64 `json:"accuracy"`
	Correct   int     `json:"correct"`
	N         int     `json:"n"`
	// Lower and Upper are the one-sided Wilson bounds of Correct/N.
	Lower   float64 `json:"wilson_lower"`
	Upper   float64 `json:"wilson_upper"`
	Status  Status  `json:"status"`
	Message string  `json:"message"`
}

// ModelRun is one model's evaluation as check ran it.
type ModelRun struct {
	Name    string       `json:"name"`
	Data    string       `json:"data"`
	Seconds float64      `json:"seconds"`
	Error   string       `json:"error,omitempty"`
	Result  *eval.Result `json:"result,omitempty"`
}

// Report is the outcome of a check run.
type Report struct {
	TolerancePP float64    `json:"tolerance_pp"`
	Confidence  Confidence `json:"confidence"`
	Z           float64    `json:"z"`
	Rule        string     `json:"rule"`
	Passed      int        `json:"passed"`
	Failed      int        `json:"failed"`
	Errors      int        `json:"errors"`
	Warnings    []string   `json:"warnings,omitempty"`
	Cases       []Case     `json:"cases"`
	Models      []ModelRun `json:"models"`
}

// OK is true when every case passed.
func (r *Report) OK() bool { return r.Failed == 0 && r.Errors == 0 }

// Rule states the pass/fail rule with its numbers filled in.
func Rule(tolPP float64, c Confidence) string {
	return fmt.Sprintf("fail when the one-sided %.4g%% Wilson upper bound (z = %.4f) of the observed accuracy is below baseline − %.4g pp",
		100*float64(c), c.Z(), tolPP)
}

// Judge applies the rule to one gate: correct out of n observed now.
func Judge(model string, g Gate, correct, n int, tolPP float64, c Confidence) Case {
	cs := Case{
		Model:     model,
		T:         g.T,
		Baseline:  g.Accuracy,
		BaselineN: g.N,
		Threshold: g.Accuracy - tolPP/100,
		Correct:   correct,
		N:         n,
		Lower:     WilsonLower(correct, n, c),
		Upper:     WilsonUpper(correct, n, c),
	}
	if n > 0 {
		cs.Accuracy = float64(correct) / float64(n)
	}
	obs := fmt.Sprintf("accuracy %s (%d/%d), one-sided %.4g%% Wilson upper bound %s", pct(cs.Accuracy), correct, n, 100*float64(c), pct(cs.Upper))
	lim := fmt.Sprintf("baseline %s − %.4g pp = %s", pct(g.Accuracy), tolPP, pct(cs.Threshold))
	if cs.Upper < cs.Threshold {
		cs.Status = StatusFail
		cs.Message = fmt.Sprintf("%s T=%d: %s < %s", model, g.T, obs, lim)
	} else {
		cs.Status = StatusPass
		cs.Message = fmt.Sprintf("%s T=%d: %s ≥ %s", model, g.T, obs, lim)
	}
	return cs
}

func pct(x float64) string { return fmt.Sprintf("%.2f%%", 100*x) }

// Check re-runs every evaluation b lists (paths relative to baselinePath's
// directory) and judges each gate. A model whose files are missing, or a data
// limit that cannot apply, is an input error returned before anything runs; a
// model whose evaluation fails becomes StatusError cases and the others still
// run. Only a cancelled ctx stops the run early.
func Check(ctx context.Context, baselinePath string, b *Baseline, opt Options, evaluate Evaluator) (*Report, error) {
	tol := b.Tolerance()
	if opt.TolerancePP != nil {
		tol = *opt.TolerancePP
	}
	if tol < 0 {
		return nil, fmt.Errorf("tolerance %v pp: must not be negative", tol)
	}
	conf := b.Level()
	if opt.Confidence != 0 {
		conf = opt.Confidence
	}
	if err := conf.Validate(); err != nil {
		return nil, err
	}
	type job struct {
		m    Model
		eopt eval.Options
	}
	jobs := make([]job, len(b.Models))
	for i, m := range b.Models {
		data, err := LimitData(m.Data, opt.DataLimit)
		if err != nil {
			return nil, fmt.Errorf("model %q: %w", m.Name, err)
		}
		eo := eval.Options{
			Model:    resolve(baselinePath, m.Path),
			Source:   resolve(baselinePath, m.Source),
			Data:     data,
			Settings: m.Settings,
			Batch:    opt.Batch,
			Progress: opt.Progress,
		}
		for _, g := range m.Gates {
			eo.Ts = append(eo.Ts, g.T)
		}
		for _, f := range []string{eo.Model, eo.Source} {
			if f == "" {
				continue
			}
			if _, err := os.Stat(f); err != nil {
				return nil, fmt.Errorf("model %q: %w", m.Name, err)
			}
		}
		jobs[i] = job{m, eo}
	}

	rep := &Report{TolerancePP: tol, Confidence: conf, Z: conf.Z(), Rule: Rule(tol, conf)}
	for i, j := range jobs {
		if opt.OnModel != nil {
			opt.OnModel(i, len(jobs), j.m.Name)
		}
		start := time.Now()
		res, err := evaluate(ctx, j.eopt)
		run := ModelRun{Name: j.m.Name, Data: j.eopt.Data, Seconds: time.Since(start).Seconds(), Result: res}
		if err == nil {
			err = checkResult(res, j.eopt.Ts)
		}
		if err != nil {
			if ctxErr := ctx.Err(); ctxErr != nil {
				return nil, ctxErr
			}
			run.Error = err.Error()
			run.Result = nil
			for _, g := range j.m.Gates {
				rep.Cases = append(rep.Cases, Case{
					Model: j.m.Name, T: g.T, Baseline: g.Accuracy, BaselineN: g.N,
					Threshold: g.Accuracy - tol/100, Status: StatusError,
					Message: fmt.Sprintf("%s: evaluation failed: %v", j.m.Name, err),
				})
				rep.Errors++
			}
			rep.Models = append(rep.Models, run)
			continue
		}
		if j.m.SHA256 != "" && res.ModelSHA256 != "" && j.m.SHA256 != res.ModelSHA256 {
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("%s: model file changed since the baseline was recorded (sha256 %.12s…, baseline %.12s…)", j.m.Name, res.ModelSHA256, j.m.SHA256))
		}
		for _, g := range j.m.Gates {
			cs := Judge(j.m.Name, g, pointAt(res, g.T).Correct, res.Samples, tol, conf)
			if cs.Status == StatusFail {
				rep.Failed++
			} else {
				rep.Passed++
			}
			rep.Cases = append(rep.Cases, cs)
		}
		rep.Models = append(rep.Models, run)
	}
	return rep, nil
}

// checkResult makes sure the evaluation reported every gated T with counts
// that can be judged; a missing T would otherwise read as 0 correct.
func checkResult(r *eval.Result, ts []int) error {
	if r == nil {
		return errors.New("evaluator returned no result")
	}
	if r.Samples <= 0 {
		return fmt.Errorf("evaluation of %s covered no samples", r.Data)
	}
	for _, t := range ts {
		p := pointAt(r, t)
		if p == nil {
			return fmt.Errorf("evaluation reported no result at T=%d", t)
		}
		if p.Correct < 0 || p.Correct > r.Samples {
			return fmt.Errorf("T=%d: %d correct out of %d samples", t, p.Correct, r.Samples)
		}
	}
	return nil
}

func pointAt(r *eval.Result, t int) *eval.Point {
	for i := range r.Points {
		if r.Points[i].T == t {
			return &r.Points[i]
		}
	}
	return nil
}
