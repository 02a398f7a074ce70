package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"
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
