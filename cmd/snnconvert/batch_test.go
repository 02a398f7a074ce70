package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/snnconvert/snnconvert/eval"
	"github.com/snnconvert/snnconvert/eval/ci"
)

func batchFlags(t *testing.T, args ...string) (*pflag.FlagSet, *batchOptions) {
	t.Helper()
	var o batchOptions
	fs := pflag.NewFlagSet("batch", pflag.ContinueOnError)
	addBatchFlags(fs, &o)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return fs, &o
}

func TestShardFromJobCompletionIndex(t *testing.T) {
	tests := []struct {
		env       string // "" = unset
		args      []string
		index, of int
		bad       bool
	}{
		{"", nil, 0, 1, false},
		{"2", []string{"--shard-count", "4"}, 2, 4, false},
		{"2", []string{"--shard-count", "4", "--shard-index", "1"}, 1, 4, false}, // the flag wins
		{"4", []string{"--shard-count", "4"}, 0, 0, true},
		{"2", nil, 0, 0, true}, // an Indexed Job without --shard-count
		{"x", []string{"--shard-count", "4"}, 0, 0, true},
		{"", []string{"--shard-count", "0"}, 0, 0, true},
	}
	for _, tc := range tests {
		if tc.env == "" {
			t.Setenv(jobIndexEnv, "")
			os.Unsetenv(jobIndexEnv)
		} else {
			t.Setenv(jobIndexEnv, tc.env)
		}
		fs, o := batchFlags(t, tc.args...)
		s, err := shardOf(fs, o)
		if (err != nil) != tc.bad || (!tc.bad && (s.Index != tc.index || s.Count != tc.of)) {
			t.Errorf("env %q args %v: %+v, %v", tc.env, tc.args, s, err)
		}
	}
}

func TestBatchAndMergeCommands(t *testing.T) {
	quiet = true
	t.Setenv(jobIndexEnv, "")
	os.Unsetenv(jobIndexEnv)
	dir := t.TempDir()
	for _, m := range []string{"a", "b"} {
		if err := os.WriteFile(filepath.Join(dir, m+".onnx"), []byte(m), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	manifest := filepath.Join(dir, "m.yaml")
	if err := os.WriteFile(manifest, []byte("data: mnist:test:1000\nT: [16, 32]\nmodels: [{path: a.onnx}, {path: b.onnx}]\nsettings: [{name: p}, {name: m, norm: max}]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ev := fixedEval(map[int]int{16: 970, 32: 985})
	run := func(args ...string) (int, string) {
		fs, o := batchFlags(t, args...)
		var out bytes.Buffer
		err := runBatch(context.Background(), &out, fs, manifest, o, ev)
		if err != nil {
			out.WriteString("error: " + err.Error())
		}
		return exitCodeOf(err), out.String()
	}
	whole := filepath.Join(dir, "whole")
	code, out := run("--out", whole, "--jobs", "2")
	if code != 0 || !strings.Contains(out, "4 entries: 4 evaluated, 0 already done, 0 failed") || !strings.Contains(out, "| a | p | mnist:test:1000 | 1000 | 99.00% | 97.00% | 98.50% |") {
		t.Fatalf("batch: exit %d\n%s", code, out)
	}
	if code, out := run("--out", whole); code != 0 || !strings.Contains(out, "0 evaluated, 4 already done") {
		t.Fatalf("rerun: exit %d\n%s", code, out)
	}
	var shards []string
	for i := range 2 {
		d := filepath.Join(dir, "shard", string(rune('0'+i)))
		t.Setenv(jobIndexEnv, string(rune('0'+i)))
		if code, out := run("--out", d, "--shard-count", "2"); code != 0 || !strings.Contains(out, "2 entries: 2 evaluated") {
			t.Fatalf("shard %d: exit %d\n%s", i, code, out)
		}
		shards = append(shards, d)
	}
	merged := filepath.Join(dir, "merged")
	mergeOut = merged
	mergeCmd.SetOut(&bytes.Buffer{})
	if err := mergeCmd.RunE(mergeCmd, shards); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"summary.md", "summary.csv", "summary.json", "summary.html", "plots/a.svg", "plots/b.svg"} {
		if !bytes.Equal(readTestFile(t, filepath.Join(whole, f)), readTestFile(t, filepath.Join(merged, f))) {
			t.Errorf("%s differs between batch and merge", f)
		}
	}
	// A manifest with an unknown key is bad input.
	os.Unsetenv(jobIndexEnv)
	if err := os.WriteFile(manifest, []byte("data: mnist:test\nT: [8]\nmodels: [{path: a.onnx}]\nsetings: []\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out := run("--out", filepath.Join(dir, "x")); code != exitUsage || !strings.Contains(out, "setings") {
		t.Errorf("unknown key: exit %d\n%s", code, out)
	}
}

// The batch story through the real evaluator on a bundled model: stopped
// after its first entry, resumed without redoing it, and equal — summaries
// byte for byte — to an uninterrupted run and to a merge of two shards.
func TestBatchRealModelResumesAndMerges(t *testing.T) {
	model := endToEndModel(t, "mlp")
	t.Setenv(jobIndexEnv, "")
	os.Unsetenv(jobIndexEnv)
	dir := t.TempDir()
	manifest := filepath.Join(dir, "sweep.yaml")
	yaml := "data: mnist:test:64\nT: [4, 16]\nmodels: [{path: " + model + "}]\n" +
		"settings:\n  - {name: p99.99, calib: mnist:train:100}\n  - {name: max, norm: max, calib: mnist:train:100}\n"
	if err := os.WriteFile(manifest, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	var calls int
	counting := func(ctx context.Context, opt eval.Options) (*eval.Result, error) {
		calls++
		return eval.Evaluate(ctx, opt)
	}
	run := func(ctx context.Context, ev ci.Evaluator, args ...string) (int, string) {
		fs, o := batchFlags(t, args...)
		var out bytes.Buffer
		err := runBatch(ctx, &out, fs, manifest, o, ev)
		if err != nil {
			out.WriteString("error: " + err.Error())
		}
		return exitCodeOf(err), out.String()
	}

	whole := filepath.Join(dir, "whole")
	if code, out := run(context.Background(), counting, "--out", whole); code != 0 || calls != 2 {
		t.Fatalf("batch: exit %d, %d evaluations\n%s", code, calls, out)
	}

	// Stop (as Ctrl-C does) once the first entry is evaluated.
	resumed := filepath.Join(dir, "resumed")
	ctx, cancel := context.WithCancel(context.Background())
	stopping := func(ctx context.Context, opt eval.Options) (*eval.Result, error) {
		defer cancel()
		return counting(ctx, opt)
	}
	calls = 0
	code, out := run(ctx, stopping, "--out", resumed)
	if code != exitUsage || !strings.Contains(out, "interrupted") || calls != 1 {
		t.Fatalf("stopped batch: exit %d, %d evaluations\n%s", code, calls, out)
	}
	first, err := filepath.Glob(filepath.Join(resumed, "entries", "*.json"))
	if err != nil || len(first) != 1 {
		t.Fatalf("stopped batch stored %v, want one entry", first)
	}
	before := readTestFile(t, first[0])
	calls = 0
	if code, out := run(context.Background(), counting, "--out", resumed); code != 0 || calls != 1 || !strings.Contains(out, "2 entries: 1 evaluated, 1 already done") {
		t.Fatalf("resumed batch: exit %d, %d evaluations\n%s", code, calls, out)
	}
	// Not recomputed: the stored result, measured speed included, is the first run's.
	if !bytes.Equal(readTestFile(t, first[0]), before) {
		t.Errorf("%s was rewritten by the resumed run", first[0])
	}
	sameBatchSummaries(t, whole, resumed)

	var shards []string
	for i := range 2 {
		d := filepath.Join(dir, "shard"+strconv.Itoa(i))
		if code, out := run(context.Background(), ciEvaluator, "--out", d, "--shard-index", strconv.Itoa(i), "--shard-count", "2"); code != 0 {
			t.Fatalf("shard %d: exit %d\n%s", i, code, out)
		}
		shards = append(shards, d)
	}
	merged := filepath.Join(dir, "merged")
	mergeOut = merged
	mergeCmd.SetOut(&bytes.Buffer{})
	if err := mergeCmd.RunE(mergeCmd, shards); err != nil {
		t.Fatal(err)
	}
	sameBatchSummaries(t, whole, merged)
}

// sameBatchSummaries compares the summaries and plots of two batch directories.
func sameBatchSummaries(t *testing.T, want, got string) {
	t.Helper()
	for _, f := range []string{"plan.json", "summary.md", "summary.csv", "summary.json", "summary.html", "plots/mlp.svg"} {
		if !bytes.Equal(readTestFile(t, filepath.Join(want, f)), readTestFile(t, filepath.Join(got, f))) {
			t.Errorf("%s differs between %s and %s", f, want, got)
		}
	}
}
