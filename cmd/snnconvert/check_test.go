package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/snnconvert/snnconvert/eval"
	"github.com/snnconvert/snnconvert/eval/ci"
)

// fixedEval answers every evaluation with the same per-T counts out of 1000.
func fixedEval(correct map[int]int) ci.Evaluator {
	return func(_ context.Context, opt eval.Options) (*eval.Result, error) {
		if _, err := os.Stat(opt.Model); err != nil {
			return nil, err
		}
		r := &eval.Result{Model: opt.Model, ModelSHA256: "abc", Data: opt.Data, Samples: 1000, Settings: opt.Settings, ANNAccuracy: 0.99, ANNCorrect: 990}
		for _, t := range opt.Ts {
			r.Points = append(r.Points, eval.Point{T: t, Correct: correct[t], Accuracy: float64(correct[t]) / 1000})
		}
		return r, nil
	}
}

// exitCode is the process exit code err leads to (as execute maps it).
func exitCodeOf(err error) int {
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return exitUsage
}

func runCheckArgs(t *testing.T, ev ci.Evaluator, args ...string) (int, string) {
	t.Helper()
	var o checkOptions
	fs := pflag.NewFlagSet("check", pflag.ContinueOnError)
	addCheckFlags(fs, &o)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err := runCheck(context.Background(), &out, fs, &o, ev)
	if err != nil {
		out.WriteString("error: " + err.Error())
	}
	return exitCodeOf(err), out.String()
}

func TestCheckExitCodes(t *testing.T) {
	quiet = true
	dir := t.TempDir()
	model := filepath.Join(dir, "lenet5.onnx")
	if err := os.WriteFile(model, []byte("fake"), 0o644); err != nil {
		t.Fatal(err)
	}
	base := filepath.Join(dir, "ci", "baseline.json")
	if err := os.MkdirAll(filepath.Dir(base), 0o755); err != nil {
		t.Fatal(err)
	}
	ev := fixedEval(map[int]int{32: 975, 64: 985})

	code, out := runCheckArgs(t, ev, "--write-baseline", base, "--model", model, "--data", "mnist:test:1000", "-T", "32,64", "--tolerance", "0.3")
	if code != 0 {
		t.Fatalf("write-baseline: exit %d\n%s", code, out)
	}
	b, err := ci.ReadBaseline(base)
	if err != nil {
		t.Fatal(err)
	}
	if b.Models[0].Path != "../lenet5.onnx" || b.TolerancePP != 0.3 || b.Models[0].Gates[0].Accuracy != 0.975 {
		t.Fatalf("recorded baseline: %+v", b)
	}

	// Honest baseline passes.
	junit := filepath.Join(dir, "junit.xml")
	if code, out := runCheckArgs(t, ev, "--baseline", base, "--junit", junit); code != 0 || !strings.Contains(out, "check passed: 2 cases") {
		t.Fatalf("honest baseline: exit %d\n%s", code, out)
	}

	// Degraded: expect 99.0 % at T=32 where the model reaches 97.5 %.
	b.Models[0].Gates[0].Accuracy = 0.99
	if err := ci.WriteBaseline(base, b); err != nil {
		t.Fatal(err)
	}
	jsonOut := filepath.Join(dir, "check.json")
	code, out = runCheckArgs(t, ev, "--baseline", base, "--junit", junit, "--json", jsonOut)
	if code != exitCheckFailed || !strings.Contains(out, "FAIL") {
		t.Fatalf("degraded baseline: exit %d, want 1\n%s", code, out)
	}
	x, err := os.ReadFile(junit)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(x), `<testcase name="T=32" classname="snnconvert.check.lenet5"`) ||
		!strings.Contains(string(x), `<failure message="lenet5 T=32: accuracy 97.50% (975/1000)`) ||
		strings.Count(string(x), "<failure") != 1 {
		t.Errorf("junit does not show the one failure:\n%s", x)
	}
	var rep ci.Report
	if err := json.Unmarshal(readTestFile(t, jsonOut), &rep); err != nil || rep.Failed != 1 || rep.Models[0].Result == nil {
		t.Errorf("--json: %v %+v", err, rep)
	}
	// A wider tolerance on the command line lets it pass again.
	if code, out := runCheckArgs(t, ev, "--baseline", base, "--tolerance", "2"); code != 0 {
		t.Errorf("--tolerance 2: exit %d\n%s", code, out)
	}

	// Bad input: exit 2.
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"version":1,"models":[],"tolerence":1}`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"--baseline", bad},
		{"--baseline", filepath.Join(dir, "missing.json")},
		{},
		{"--baseline", base, "--model", model},
		{"--baseline", base, "--confidence", "95"},
		{"--write-baseline", filepath.Join(dir, "x.json")},
		{"--write-baseline", filepath.Join(dir, "x.json"), "--model", filepath.Join(dir, "gone.onnx")},
		{"--write-baseline", filepath.Join(dir, "x.json"), "--model", model, "--norm", "mean"},
	} {
		if code, out := runCheckArgs(t, ev, args...); code != exitUsage {
			t.Errorf("%v: exit %d, want 2\n%s", args, code, out)
		}
	}
	// A model that disappeared after the baseline was written is bad input too.
	if err := os.Remove(model); err != nil {
		t.Fatal(err)
	}
	if code, out := runCheckArgs(t, ev, "--baseline", base); code != exitUsage || !strings.Contains(out, "lenet5.onnx") {
		t.Errorf("missing model: exit %d\n%s", code, out)
	}
}

func readTestFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The same story through the real evaluator on a bundled model: record,
// pass, degrade, fail with exit 1 and a JUnit failure.
func TestCheckRealModel(t *testing.T) {
	model := endToEndModel(t, "mlp")
	dir := t.TempDir()
	base := filepath.Join(dir, "baseline.json")
	if code, out := runCheckArgs(t, ciEvaluator, "--write-baseline", base, "--model", model, "--data", "mnist:test:1000", "-T", "32"); code != 0 {
		t.Fatalf("write-baseline: exit %d\n%s", code, out)
	}
	junit := filepath.Join(dir, "junit.xml")
	if code, out := runCheckArgs(t, ciEvaluator, "--baseline", base, "--junit", junit); code != 0 {
		t.Fatalf("honest baseline: exit %d\n%s", code, out)
	}
	b, err := ci.ReadBaseline(base)
	if err != nil {
		t.Fatal(err)
	}
	g := &b.Models[0].Gates[0]
	k := int(g.Accuracy*float64(g.N) + 0.5)
	g.Accuracy = ci.WilsonUpper(k, g.N, ci.DefaultConfidence) + ci.DefaultTolerancePP/100 + 0.001
	if g.Accuracy > 1 {
		t.Fatalf("mlp got %d/%d: no baseline ≤ 100 %% can fail it", k, g.N)
	}
	if err := ci.WriteBaseline(base, b); err != nil {
		t.Fatal(err)
	}
	code, out := runCheckArgs(t, ciEvaluator, "--baseline", base, "--junit", junit)
	if code != exitCheckFailed || !strings.Contains(out, "| FAIL ") || !strings.Contains(out, "1 of 1 cases fell below their baseline") {
		t.Fatalf("degraded baseline: exit %d, want 1 and a FAIL verdict\n%s", code, out)
	}
	if x := string(readTestFile(t, junit)); !strings.Contains(x, `<failure message="mlp T=32: accuracy `) || !strings.Contains(x, `type="AccuracyRegression"`) {
		t.Errorf("junit lacks the failure:\n%s", x)
	}
}
