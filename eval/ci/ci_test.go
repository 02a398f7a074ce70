package ci

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/snnconvert/snnconvert/eval"
)

// Published Wilson score intervals (Newcombe 1998, Stat. Med. 17:857, table
// II, method 3): two-sided 95 % limits, i.e. one-sided bounds at 0.975.
func TestWilsonAgainstNewcombe(t *testing.T) {
	tests := []struct {
		k, n   int
		lo, hi float64
	}{
		{81, 263, 0.2553, 0.3662},
		{15, 148, 0.0624, 0.1605},
		{0, 20, 0.0000, 0.1611},
		{1, 29, 0.0061, 0.1718},
		{29, 29, 0.8830, 1.0000},
	}
	for _, tc := range tests {
		lo, hi := WilsonLower(tc.k, tc.n, 0.975), WilsonUpper(tc.k, tc.n, 0.975)
		if math.Abs(lo-tc.lo) > 5e-5 || math.Abs(hi-tc.hi) > 5e-5 {
			t.Errorf("%d/%d: got [%.5f, %.5f], want [%.4f, %.4f]", tc.k, tc.n, lo, hi, tc.lo, tc.hi)
		}
	}
}

// The bound is the root of the score equation, checked without the closed form.
func TestWilsonSolvesScoreEquation(t *testing.T) {
	for _, tc := range []struct {
		k, n int
		c    Confidence
	}{{950, 1000, 0.95}, {197, 200, 0.99}, {3, 7, 0.9}, {0, 50, 0.95}} {
		u := WilsonUpper(tc.k, tc.n, tc.c)
		z := tc.c.Z()
		p := float64(tc.k) / float64(tc.n)
		lhs := (p - u) * (p - u)
		rhs := z * z * u * (1 - u) / float64(tc.n)
		if math.Abs(lhs-rhs) > 1e-12 || u < p {
			t.Errorf("%d/%d at %v: u=%v: (p−u)²=%g, z²u(1−u)/n=%g", tc.k, tc.n, tc.c, u, lhs, rhs)
		}
	}
}

func TestConfidenceZ(t *testing.T) {
	for _, tc := range []struct {
		c Confidence
		z float64
	}{{0.95, 1.6448536}, {0.975, 1.9599640}, {0.99, 2.3263479}, {0.8413447, 1.0}} {
		if got := tc.c.Z(); math.Abs(got-tc.z) > 1e-6 {
			t.Errorf("Z(%v) = %v, want %v", tc.c, got, tc.z)
		}
	}
	for _, bad := range []Confidence{0.5, 0.3, 1, 1.2, Confidence(math.NaN())} {
		if bad.Validate() == nil {
			t.Errorf("confidence %v accepted", bad)
		}
	}
}

// The rule at its edge: baseline 99.0 %, tolerance 0.5 pp, n = 1000, 95 %.
func TestJudgeBoundary(t *testing.T) {
	g := Gate{T: 32, Accuracy: 0.99, N: 1000}
	tests := []struct {
		correct, n int
		tol        float64
		want       Status
	}{
		{979, 1000, 0.5, StatusPass}, // upper 98.527 % ≥ 98.5 %
		{978, 1000, 0.5, StatusFail}, // upper 98.444 % < 98.5 %
		{990, 1000, 0, StatusPass},   // exactly the baseline
		{985, 1000, 0, StatusPass},   // 98.5 % observed: upper 99.1 % ≥ 99.0 %
		{982, 1000, 0, StatusFail},   // upper 98.773 % < 99.0 %
		{97, 100, 0.5, StatusPass},   // 97 % on 100 images: upper 98.80 % — too few to tell
		{96, 100, 0.5, StatusFail},   // upper 98.19 % < 98.5 %
	}
	for _, tc := range tests {
		c := Judge("m", g, tc.correct, tc.n, tc.tol, 0.95)
		if c.Status != tc.want {
			t.Errorf("%d/%d tol %v: %s (%s), want %s", tc.correct, tc.n, tc.tol, c.Status, c.Message, tc.want)
		}
		if !strings.Contains(c.Message, "m T=32") || !strings.Contains(c.Message, "99.00%") {
			t.Errorf("message lacks the numbers: %s", c.Message)
		}
	}
}

func TestLimitData(t *testing.T) {
	tests := []struct {
		spec string
		n    int
		want string
		bad  bool
	}{
		{"mnist:test", 200, "mnist:test:200", false},
		{"mnist:test:1000", 200, "mnist:test:200", false},
		{"mnist:test:100", 200, "mnist:test:100", false},
		{"cifar10:eran100", 10, "cifar10:eran100:10", false},
		{"npz:x.npz", 0, "npz:x.npz", false},
		{"npz:x.npz", 10, "", true},
		{"mnist:test:x", 10, "", true},
	}
	for _, tc := range tests {
		got, err := LimitData(tc.spec, tc.n)
		if (err != nil) != tc.bad || got != tc.want {
			t.Errorf("LimitData(%q, %d) = %q, %v", tc.spec, tc.n, got, err)
		}
	}
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestReadBaselineRejects(t *testing.T) {
	dir := t.TempDir()
	tests := []struct{ name, json, want string }{
		{"unknown field", `{"version":1,"tolerance":1,"models":[]}`, "unknown field"},
		{"version", `{"version":2,"models":[]}`, "version 2"},
		{"no models", `{"version":1,"models":[]}`, "no models"},
		{"dup", `{"version":1,"models":[{"name":"a","model":"a.onnx","data":"mnist:test","settings":{},"gates":[{"T":8,"accuracy":0.9,"n":10}]},{"name":"a","model":"a.onnx","data":"mnist:test","settings":{},"gates":[{"T":8,"accuracy":0.9,"n":10}]}]}`, "listed twice"},
		{"accuracy", `{"version":1,"models":[{"name":"a","model":"a.onnx","data":"mnist:test","settings":{},"gates":[{"T":8,"accuracy":98,"n":10}]}]}`, "not a fraction"},
		{"norm", `{"version":1,"models":[{"name":"a","model":"a.onnx","data":"mnist:test","settings":{"norm":"maxx"},"gates":[{"T":8,"accuracy":0.9,"n":10}]}]}`, `norm "maxx"`},
		{"T", `{"version":1,"models":[{"name":"a","model":"a.onnx","data":"mnist:test","settings":{},"gates":[{"T":0,"accuracy":0.9,"n":10}]}]}`, "T must be positive"},
		{"confidence", `{"version":1,"confidence":95,"models":[{"name":"a","model":"a.onnx","data":"mnist:test","settings":{},"gates":[{"T":8,"accuracy":0.9,"n":10}]}]}`, "confidence 95"},
		{"syntax", `{"version":1,`, "unexpected EOF"},
	}
	for _, tc := range tests {
		p := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".json")
		writeFile(t, p, tc.json)
		_, err := ReadBaseline(p)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: err = %v, want it to name %s and say %q", tc.name, err, p, tc.want)
		}
	}
	if _, err := ReadBaseline(filepath.Join(dir, "missing.json")); err == nil || !strings.Contains(err.Error(), "missing.json") {
		t.Errorf("missing file: %v", err)
	}
}

// fakeEval is a deterministic evaluator: each model file name maps to the
// number correct at each T, out of 1000 samples (fewer under a data limit).
type fakeEval struct {
	correct map[string]map[int]int
	calls   []eval.Options
	fail    map[string]error
}

func (f *fakeEval) evaluate(_ context.Context, opt eval.Options) (*eval.Result, error) {
	f.calls = append(f.calls, opt)
	name := filepath.Base(opt.Model)
	if err := f.fail[name]; err != nil {
		return nil, err
	}
	n := 1000
	if strings.HasSuffix(opt.Data, ":200") {
		n = 200
	}
	r := &eval.Result{Model: opt.Model, ModelSHA256: "sha-" + name, Data: opt.Data, Samples: n, Settings: opt.Settings, ANNAccuracy: 0.99, ANNCorrect: 99 * n / 100}
	for _, t := range opt.Ts {
		c := f.correct[name][t] * n / 1000
		r.Points = append(r.Points, eval.Point{T: t, Correct: c, Accuracy: float64(c) / float64(n)})
	}
	return r, nil
}

func setupModels(t *testing.T, names ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, n := range names {
		writeFile(t, filepath.Join(dir, n), "not read by the fake")
	}
	return dir
}

func TestCheckRecordThenDegrade(t *testing.T) {
	dir := setupModels(t, "a.onnx", "b.onnx")
	fe := &fakeEval{correct: map[string]map[int]int{
		"a.onnx": {32: 985, 64: 989},
		"b.onnx": {32: 970, 64: 975},
	}}
	bpath := filepath.Join(dir, "baseline.json")
	b := &Baseline{Version: BaselineVersion}
	for _, name := range []string{"a", "b"} {
		r, err := fe.evaluate(context.Background(), eval.Options{Model: filepath.Join(dir, name+".onnx"), Data: "mnist:test:1000", Ts: []int{32, 64}})
		if err != nil {
			t.Fatal(err)
		}
		m, err := Record(name, RelativeTo(bpath, filepath.Join(dir, name+".onnx")), "", r)
		if err != nil {
			t.Fatal(err)
		}
		b.Models = append(b.Models, m)
	}
	if err := WriteBaseline(bpath, b); err != nil {
		t.Fatal(err)
	}
	got, err := ReadBaseline(bpath)
	if err != nil {
		t.Fatal(err)
	}
	if got.Models[0].Path != "a.onnx" || got.Models[1].Gates[1] != (Gate{T: 64, Accuracy: 0.975, N: 1000}) {
		t.Fatalf("baseline did not round-trip: %+v", got.Models)
	}

	// Honest baseline: every case passes, paths resolve beside the baseline.
	fe.calls = nil
	rep, err := Check(context.Background(), bpath, got, Options{}, fe.evaluate)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.Passed != 4 || len(rep.Cases) != 4 {
		t.Fatalf("honest baseline: %+v", rep)
	}
	if fe.calls[0].Model != filepath.Join(dir, "a.onnx") || len(fe.calls[0].Ts) != 2 {
		t.Errorf("evaluator called with %+v", fe.calls[0])
	}

	// Degraded: b at T=32 expected 99.0 %, it reaches 97.0 %.
	got.Models[1].Gates[0].Accuracy = 0.99
	rep, err = Check(context.Background(), bpath, got, Options{}, fe.evaluate)
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK() || rep.Failed != 1 || rep.Passed != 3 {
		t.Fatalf("degraded baseline: failed=%d passed=%d", rep.Failed, rep.Passed)
	}
	var failed Case
	for _, c := range rep.Cases {
		if c.Status == StatusFail {
			failed = c
		}
	}
	if failed.Model != "b" || failed.T != 32 || failed.Correct != 970 || math.Abs(failed.Upper-0.97768) > 1e-4 {
		t.Errorf("failed case: %+v", failed)
	}

	var x bytes.Buffer
	if err := WriteJUnit(&x, rep); err != nil {
		t.Fatal(err)
	}
	var suites junitSuites
	if err := xml.Unmarshal(x.Bytes(), &suites); err != nil {
		t.Fatalf("junit does not parse: %v\n%s", err, x.String())
	}
	if suites.Tests != 4 || suites.Failures != 1 || len(suites.Suites) != 2 || suites.Suites[1].Failures != 1 {
		t.Fatalf("junit counts: %+v", suites)
	}
	fc := suites.Suites[1].Cases[0]
	if fc.Name != "T=32" || fc.Failure == nil || !strings.Contains(fc.Failure.Message, "97.00% (970/1000)") || !strings.Contains(fc.Failure.Message, "99.00%") {
		t.Errorf("junit failure case: %+v", fc)
	}

	// A tolerance wide enough turns it back to pass; a data limit reaches the evaluator.
	wide := 2.0
	rep, err = Check(context.Background(), bpath, got, Options{TolerancePP: &wide, DataLimit: 200}, fe.evaluate)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || fe.calls[len(fe.calls)-1].Data != "mnist:test:200" || rep.Cases[2].N != 200 {
		t.Errorf("tolerance 2 pp on 200 samples: %+v", rep.Cases)
	}
}

func TestCheckInputErrors(t *testing.T) {
	dir := setupModels(t, "a.onnx")
	bpath := filepath.Join(dir, "baseline.json")
	b := &Baseline{Version: 1, Models: []Model{{Name: "gone", Path: "gone.onnx", Data: "mnist:test", Gates: []Gate{{T: 8, Accuracy: 0.9, N: 10}}}}}
	fe := &fakeEval{}
	if _, err := Check(context.Background(), bpath, b, Options{}, fe.evaluate); err == nil || !strings.Contains(err.Error(), "gone.onnx") {
		t.Errorf("missing model: %v", err)
	}
	if len(fe.calls) != 0 {
		t.Errorf("evaluator ran despite a missing model")
	}
	b.Models[0].Path = "a.onnx"
	b.Models[0].Data = "npz:x.npz"
	if _, err := Check(context.Background(), bpath, b, Options{DataLimit: 5}, fe.evaluate); err == nil {
		t.Error("data limit on an npz set accepted")
	}
	b.Models[0].Data = "mnist:test"
	if _, err := Check(context.Background(), bpath, b, Options{Confidence: 0.4}, fe.evaluate); err == nil {
		t.Error("confidence 0.4 accepted")
	}
}

func TestCheckEvaluationErrorIsReported(t *testing.T) {
	dir := setupModels(t, "bad.onnx", "a.onnx")
	bpath := filepath.Join(dir, "baseline.json")
	fe := &fakeEval{
		correct: map[string]map[int]int{"a.onnx": {8: 990}},
		fail:    map[string]error{"bad.onnx": errors.New(`node "x" (Foo): unsupported op`)},
	}
	b := &Baseline{Version: 1, Models: []Model{
		{Name: "bad", Path: "bad.onnx", Data: "mnist:test", Gates: []Gate{{T: 8, Accuracy: 0.9, N: 10}}},
		{Name: "a", Path: "a.onnx", Data: "mnist:test", Gates: []Gate{{T: 8, Accuracy: 0.99, N: 1000}}},
	}}
	rep, err := Check(context.Background(), bpath, b, Options{}, fe.evaluate)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Errors != 1 || rep.Passed != 1 || rep.OK() || rep.Cases[0].Status != StatusError || !strings.Contains(rep.Cases[0].Message, "unsupported op") {
		t.Fatalf("report: %+v", rep)
	}
	var x bytes.Buffer
	if err := WriteJUnit(&x, rep); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(x.String(), `<error message="bad: evaluation failed: node &#34;x&#34; (Foo): unsupported op" type="EvaluationError">`) {
		t.Errorf("junit error element missing:\n%s", x.String())
	}
}

func TestCheckMissingT(t *testing.T) {
	dir := setupModels(t, "a.onnx")
	bpath := filepath.Join(dir, "baseline.json")
	b := &Baseline{Version: 1, Models: []Model{{Name: "a", Path: "a.onnx", Data: "mnist:test", Gates: []Gate{{T: 8, Accuracy: 0.9, N: 10}}}}}
	drop := func(ctx context.Context, opt eval.Options) (*eval.Result, error) {
		return &eval.Result{Samples: 10, Points: []eval.Point{{T: 16, Correct: 9}}}, nil
	}
	rep, err := Check(context.Background(), bpath, b, Options{}, drop)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Errors != 1 || !strings.Contains(rep.Cases[0].Message, "no result at T=8") {
		t.Errorf("a result without the gated T must be an error: %+v", rep.Cases)
	}
}

func TestCheckCancelled(t *testing.T) {
	dir := setupModels(t, "a.onnx")
	b := &Baseline{Version: 1, Models: []Model{{Name: "a", Path: "a.onnx", Data: "mnist:test", Gates: []Gate{{T: 8, Accuracy: 0.9, N: 10}}}}}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ev := func(ctx context.Context, _ eval.Options) (*eval.Result, error) { return nil, ctx.Err() }
	if _, err := Check(ctx, filepath.Join(dir, "b.json"), b, Options{}, ev); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled run: %v", err)
	}
}
