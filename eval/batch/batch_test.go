package batch

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/snnconvert/snnconvert/eval"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// fake is a deterministic evaluator: accuracy depends only on the model file
// name, the settings and T, like a real evaluation depends only on its
// inputs. Only ImagesPerSec varies from call to call, as timing does.
type fake struct {
	calls atomic.Int64
	mu    sync.Mutex
	seen  []eval.Options
	fail  string // model base name whose evaluation fails
	// cancelAfter cancels the run (through cancel) once that many calls started.
	cancelAfter int64
	cancel      context.CancelFunc
}

func (f *fake) evaluate(ctx context.Context, opt eval.Options) (*eval.Result, error) {
	n := f.calls.Add(1)
	f.mu.Lock()
	f.seen = append(f.seen, opt)
	f.mu.Unlock()
	if f.cancelAfter > 0 && n > f.cancelAfter {
		f.cancel()
		return nil, ctx.Err()
	}
	base := strings.TrimSuffix(filepath.Base(opt.Model), ".onnx")
	if base == f.fail {
		return nil, errors.New(`node "conv9" (Foo): unsupported op`)
	}
	const samples = 1000
	ann := 980 + len(base)
	loss := 0
	switch opt.Settings.Norm {
	case "max":
		loss = 40
	case "channel":
		loss = 10
	}
	if opt.Settings.Reset == "zero" {
		loss += 25
	}
	r := &eval.Result{
		Model: opt.Model, ModelSHA256: "x", Data: opt.Data, Samples: samples, Settings: opt.Settings,
		ANNCorrect: ann, ANNAccuracy: float64(ann) / samples,
		ACs: 1000 * float64(len(base)), MACs: 5000, ANNMACs: 20000, EnergySNNuJ: 0.0239, EnergyANNuJ: 0.092,
		ImagesPerSec: float64(time.Now().UnixNano() % 9973),
	}
	for _, T := range opt.Ts {
		c := ann - loss*8/T - 64/T
		r.Points = append(r.Points, eval.Point{T: T, Correct: c, Accuracy: float64(c) / samples,
			Agreement: float64(samples-(ann-c)) / samples, GapPP: float64(ann-c) / 10})
	}
	r.TWithin01pp = eval.SmallestTWithin(r.Points, 0.1)
	r.TWithin1pp = eval.SmallestTWithin(r.Points, 1)
	return r, nil
}

const manifest = `# two models × three settings
data: mnist:test:1000
T: [64, 8, 16, 32]
models:
  - path: models/lenet5.onnx
  - name: the-mlp
    path: models/mlp.onnx
settings:
  - name: p99.99
  - name: max
    norm: max
  - name: zero-reset
    reset: zero
    percentile: 99.9
    T: [32, 128]
`

// setup writes a manifest and two (fake) model files, returns the manifest path.
func setup(t *testing.T, text string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "models"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"lenet5", "mlp"} {
		if err := os.WriteFile(filepath.Join(dir, "models", m+".onnx"), []byte("weights of "+m), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p := filepath.Join(dir, "manifest.yaml")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestExpand(t *testing.T) {
	plan, err := ReadManifest(setup(t, manifest))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range plan.Entries {
		got = append(got, e.Model+"/"+e.Setting+" "+e.Data+" "+formatTs(e.Ts))
	}
	want := []string{
		"lenet5/p99.99 mnist:test:1000 8,16,32,64",
		"lenet5/max mnist:test:1000 8,16,32,64",
		"lenet5/zero-reset mnist:test:1000 32,128",
		"the-mlp/p99.99 mnist:test:1000 8,16,32,64",
		"the-mlp/max mnist:test:1000 8,16,32,64",
		"the-mlp/zero-reset mnist:test:1000 32,128",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("entries:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	ids := map[string]bool{}
	for i, e := range plan.Entries {
		if e.Index != i || len(e.ID) != 16 || ids[e.ID] {
			t.Errorf("entry %d: index %d id %q", i, e.Index, e.ID)
		}
		ids[e.ID] = true
	}
	if plan.Entries[2].Settings.Percentile != 99.9 || plan.Entries[2].Settings.Reset != "zero" {
		t.Errorf("inline settings not decoded: %+v", plan.Entries[2].Settings)
	}

	// IDs hash what decides the result, not names or order.
	renamed := strings.Replace(strings.Replace(manifest, "name: the-mlp", "name: mlp2", 1), "name: max\n", "name: maxnorm\n", 1)
	plan2, err := ReadManifest(setup(t, renamed))
	if err != nil {
		t.Fatal(err)
	}
	for i := range plan.Entries {
		if plan.Entries[i].ID != plan2.Entries[i].ID {
			t.Errorf("entry %d: renaming changed the ID", i)
		}
	}
	changed := strings.Replace(manifest, "percentile: 99.9", "percentile: 99.5", 1)
	plan3, err := ReadManifest(setup(t, changed))
	if err != nil {
		t.Fatal(err)
	}
	for i := range plan.Entries {
		same := plan.Entries[i].ID == plan3.Entries[i].ID
		if touched := plan.Entries[i].Setting == "zero-reset"; same == touched {
			t.Errorf("entry %d (%s): ID same=%v after editing zero-reset", i, plan.Entries[i].Setting, same)
		}
	}
}

func formatTs(ts []int) string {
	var s []string
	for _, t := range ts {
		s = append(s, strconv.Itoa(t))
	}
	return strings.Join(s, ",")
}

func TestManifestRejects(t *testing.T) {
	tests := []struct{ name, yaml, want string }{
		{"unknown top key", "data: mnist:test\nT: [8]\nmodel: []\n", "field model not found"},
		{"unknown setting key", "data: mnist:test\nT: [8]\nmodels: [{path: models/mlp.onnx}]\nsettings: [{name: a, normalisation: max}]\n", "field normalisation not found"},
		{"bad norm", "data: mnist:test\nT: [8]\nmodels: [{path: models/mlp.onnx}]\nsettings: [{name: a, norm: mean}]\n", `setting "a": norm "mean"`},
		{"no T", "data: mnist:test\nmodels: [{path: models/mlp.onnx}]\n", "no T list"},
		{"zero T", "data: mnist:test\nT: [0]\nmodels: [{path: models/mlp.onnx}]\n", "T=0"},
		{"no data", "T: [8]\nmodels: [{path: models/mlp.onnx}]\n", "no data set"},
		{"no models", "data: mnist:test\nT: [8]\n", "no models"},
		{"missing model", "data: mnist:test\nT: [8]\nmodels: [{path: models/gone.onnx}]\n", "gone.onnx"},
		{"dup model", "data: mnist:test\nT: [8]\nmodels: [{path: models/mlp.onnx}, {path: models/mlp.onnx}]\n", `model "mlp": listed twice`},
		{"same evaluation", "data: mnist:test\nT: [8]\nmodels: [{path: models/mlp.onnx}, {name: b, path: models/mlp.onnx}]\n", "same evaluation"},
		{"bad name", "data: mnist:test\nT: [8]\nmodels: [{path: models/mlp.onnx}]\nsettings: [{name: a/b}]\n", `name "a/b"`},
		{"two docs", "data: mnist:test\nT: [8]\nmodels: [{path: models/mlp.onnx}]\n---\ndata: x\n", "more than one YAML document"},
		{"empty", "", "empty manifest"},
		{"syntax", "data: [\n", "yaml"},
	}
	for _, tc := range tests {
		p := setup(t, tc.yaml)
		_, err := ReadManifest(p)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: err = %v, want it to name %s and say %q", tc.name, err, p, tc.want)
		}
	}
}

func TestResume(t *testing.T) {
	plan, err := ReadManifest(setup(t, manifest))
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	f := &fake{fail: "mlp"}
	st, err := Run(context.Background(), plan, Options{Out: out, Jobs: 2}, f.evaluate)
	if err != nil {
		t.Fatal(err)
	}
	if f.calls.Load() != 6 || st.Ran != 6 || st.Skipped != 0 || len(st.Failed) != 3 {
		t.Fatalf("first run: %d calls, %+v", f.calls.Load(), st)
	}
	if !strings.Contains(st.Failed[0], "unsupported op") {
		t.Errorf("failure message: %q", st.Failed[0])
	}
	md, err := os.ReadFile(filepath.Join(out, "summary.md"))
	if err != nil || !strings.Contains(string(md), "failed: node \"conv9\" (Foo): unsupported op") {
		t.Errorf("summary lacks the failure: %v\n%s", err, md)
	}

	// Rerun: the three finished entries are skipped, the failed ones retried.
	f2 := &fake{}
	st, err = Run(context.Background(), plan, Options{Out: out, Jobs: 2}, f2.evaluate)
	if err != nil {
		t.Fatal(err)
	}
	if f2.calls.Load() != 3 || st.Skipped != 3 || st.Ran != 3 || len(st.Failed) != 0 {
		t.Fatalf("second run: %d calls, %+v", f2.calls.Load(), st)
	}
	for _, o := range f2.seen {
		if !strings.HasSuffix(o.Model, "mlp.onnx") {
			t.Errorf("rerun evaluated finished entry %s", o.Model)
		}
	}

	// Third run: nothing to do.
	f3 := &fake{}
	if st, err = Run(context.Background(), plan, Options{Out: out}, f3.evaluate); err != nil || f3.calls.Load() != 0 || st.Skipped != 6 {
		t.Fatalf("third run: %d calls, %+v, %v", f3.calls.Load(), st, err)
	}

	// An interrupted run keeps what finished; the next run does only the rest.
	out2 := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	f4 := &fake{cancelAfter: 2, cancel: cancel}
	if _, err := Run(ctx, plan, Options{Out: out2, Jobs: 1}, f4.evaluate); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run: %v", err)
	}
	if _, err := os.Stat(filepath.Join(out2, "summary.md")); !os.IsNotExist(err) {
		t.Errorf("an interrupted run wrote a summary")
	}
	files, _ := filepath.Glob(filepath.Join(out2, "entries", "*.json"))
	if len(files) != 2 {
		t.Errorf("interrupted run stored %d entries, want 2", len(files))
	}
	kept := map[string][]byte{}
	for _, f := range files {
		kept[f] = must(os.ReadFile(f))
	}
	f5 := &fake{}
	if st, err := Run(context.Background(), plan, Options{Out: out2, Jobs: 3}, f5.evaluate); err != nil || f5.calls.Load() != 4 || st.Skipped != 2 {
		t.Fatalf("resumed run: %d calls, %+v, %v", f5.calls.Load(), st, err)
	}
	// The finished entries were not recomputed: their files still hold the
	// first run's result, timing included (the fake's timing differs per call).
	for f, b := range kept {
		if !bytes.Equal(must(os.ReadFile(f)), b) {
			t.Errorf("%s was rewritten by the resumed run", f)
		}
	}
	// And the resumed directory is what an uninterrupted run writes.
	whole := t.TempDir()
	if _, err := Run(context.Background(), plan, Options{Out: whole, Jobs: 2}, (&fake{}).evaluate); err != nil {
		t.Fatal(err)
	}
	assertSameSummaries(t, whole, out2)

	// A damaged entry file (say, a disk that filled up) is evaluated again,
	// and only it.
	if err := os.WriteFile(files[0], kept[files[0]][:len(kept[files[0]])/2], 0o644); err != nil {
		t.Fatal(err)
	}
	f6 := &fake{}
	if st, err := Run(context.Background(), plan, Options{Out: out2}, f6.evaluate); err != nil || f6.calls.Load() != 1 || st.Ran != 1 || st.Skipped != 5 {
		t.Fatalf("run over a damaged entry: %d calls, %+v, %v", f6.calls.Load(), st, err)
	}
	assertSameSummaries(t, whole, out2)
}

// Ctrl-C right after an evaluation returned keeps that result: only work
// the cancel cut short is left to the rerun.
func TestResultFinishedBeforeCancelIsKept(t *testing.T) {
	plan, err := ReadManifest(setup(t, manifest))
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	f := &fake{}
	cancelling := func(ctx context.Context, opt eval.Options) (*eval.Result, error) {
		r, err := f.evaluate(ctx, opt)
		cancel()
		return r, err
	}
	if _, err := Run(ctx, plan, Options{Out: out, Jobs: 1}, cancelling); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled run: %v", err)
	}
	files, _ := filepath.Glob(filepath.Join(out, "entries", "*.json"))
	if f.calls.Load() != 1 || len(files) != 1 {
		t.Fatalf("%d evaluations, %d stored; want the one that finished stored", f.calls.Load(), len(files))
	}
	s, err := readStored(out, plan.Entries[0].ID)
	if err != nil || !s.Done() {
		t.Fatalf("first entry: %+v, %v", s, err)
	}
}

// assertSameSummaries compares every file but the entry results (which hold
// timings) of two batch directories byte for byte.
func assertSameSummaries(t *testing.T, wantDir, gotDir string) {
	t.Helper()
	want, got := summaryFiles(t, wantDir), summaryFiles(t, gotDir)
	if len(want) != len(got) {
		t.Errorf("%s has %d summary files, %s %d", wantDir, len(want), gotDir, len(got))
	}
	for k, b := range want {
		if !bytes.Equal(b, got[k]) {
			t.Errorf("%s differs", k)
		}
	}
}

// summaryFiles lists what must be byte-identical between an unsharded run and
// a merge of shards.
func summaryFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if strings.HasPrefix(rel, "entries") {
			return nil
		}
		b, err := os.ReadFile(p)
		out[rel] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestShardMergeEqualsUnsharded(t *testing.T) {
	plan, err := ReadManifest(setup(t, manifest))
	if err != nil {
		t.Fatal(err)
	}
	whole := t.TempDir()
	if _, err := Run(context.Background(), plan, Options{Out: whole, Jobs: 3}, (&fake{}).evaluate); err != nil {
		t.Fatal(err)
	}
	const n = 4 // 6 entries over 4 shards: uneven on purpose
	var dirs []string
	owned := map[int]int{}
	for i := range n {
		d := t.TempDir()
		f := &fake{}
		st, err := Run(context.Background(), plan, Options{Out: d, Jobs: 2, Shard: Shard{i, n}}, f.evaluate)
		if err != nil {
			t.Fatal(err)
		}
		if int(f.calls.Load()) != st.Total {
			t.Errorf("shard %d: %d calls for %d entries", i, f.calls.Load(), st.Total)
		}
		for _, o := range f.seen {
			for _, e := range plan.Entries {
				if e.modelFile == o.Model && e.Settings == o.Settings && e.Data == o.Data && sameTs(e.Ts, o.Ts) {
					owned[e.Index]++
					if e.Index%n != i {
						t.Errorf("shard %d ran entry %d", i, e.Index)
					}
				}
			}
		}
		if _, err := os.Stat(filepath.Join(d, "summary.md")); !os.IsNotExist(err) {
			t.Errorf("shard %d wrote a summary", i)
		}
		dirs = append(dirs, d)
	}
	for i := range plan.Entries {
		if owned[i] != 1 {
			t.Errorf("entry %d ran %d times across shards", i, owned[i])
		}
	}
	// Merge in scrambled order: the result must not depend on it.
	merged := t.TempDir()
	if _, err := Merge([]string{dirs[2], dirs[0], dirs[3], dirs[1]}, merged); err != nil {
		t.Fatal(err)
	}
	var names []string
	for k := range summaryFiles(t, whole) {
		names = append(names, k)
	}
	sort.Strings(names)
	if len(names) != 7 { // plan.json, 4 summaries, 2 plots
		t.Errorf("unsharded run wrote %v", names)
	}
	assertSameSummaries(t, whole, merged)
	// The merged directory is a complete batch directory: a rerun does nothing.
	f := &fake{}
	if st, err := Run(context.Background(), plan, Options{Out: merged}, f.evaluate); err != nil || f.calls.Load() != 0 || st.Skipped != 6 {
		t.Errorf("rerun on the merged directory: %d calls, %+v, %v", f.calls.Load(), st, err)
	}

	// A missing shard is named, not papered over.
	if _, err := Merge(dirs[:3], t.TempDir()); err == nil || !strings.Contains(err.Error(), "1 of 6 entries") || !strings.Contains(err.Error(), "index 3") {
		t.Errorf("merge without shard 3: %v", err)
	}
	// Shards of different manifests do not merge.
	other, err := ReadManifest(setup(t, strings.Replace(manifest, "T: [32, 128]", "T: [32, 256]", 1)))
	if err != nil {
		t.Fatal(err)
	}
	od := t.TempDir()
	if _, err := Run(context.Background(), other, Options{Out: od, Shard: Shard{1, n}}, (&fake{}).evaluate); err != nil {
		t.Fatal(err)
	}
	if _, err := Merge([]string{dirs[0], od}, t.TempDir()); err == nil || !strings.Contains(err.Error(), "different manifests") {
		t.Errorf("merge of different manifests: %v", err)
	}
}

func sameTs(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestShardValidate(t *testing.T) {
	for _, s := range []Shard{{0, 0}, {-1, 2}, {2, 2}} {
		if s.Validate() == nil {
			t.Errorf("shard %+v accepted", s)
		}
	}
	if (Shard{1, 3}).Validate() != nil || !(Shard{1, 3}).Owns(4) || (Shard{1, 3}).Owns(3) {
		t.Error("shard 1/3")
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test -update rewrites it):\n%s", name, got)
	}
}

func TestSummaryGolden(t *testing.T) {
	plan, err := ReadManifest(setup(t, manifest))
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	if _, err := Run(context.Background(), plan, Options{Out: out}, (&fake{fail: "mlp"}).evaluate); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"summary.md", "summary.csv"} {
		b, err := os.ReadFile(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		golden(t, name, b)
	}
	recs, err := csv.NewReader(bytes.NewReader(must(os.ReadFile(filepath.Join(out, "summary.csv"))))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	// Header + lenet5 (4 + 4 + 2 Ts) + 3 failed mlp entries.
	if len(recs) != 1+10+3 {
		t.Errorf("csv has %d records", len(recs))
	}
	html := string(must(os.ReadFile(filepath.Join(out, "summary.html"))))
	if !strings.Contains(html, "<svg") || strings.Contains(html, "http://www.w3.org/1999/xhtml") || strings.Contains(html, "src=\"http") || strings.Contains(html, "href=\"http") {
		t.Errorf("html is not self-contained with an inline plot")
	}
	svg := string(must(os.ReadFile(filepath.Join(out, "plots", "lenet5.svg"))))
	for _, want := range []string{"p99.99", "max", "zero-reset", "ANN 98.60%", "128"} {
		if !strings.Contains(svg, want) {
			t.Errorf("lenet5.svg lacks %q", want)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "plots", "the-mlp.svg")); !os.IsNotExist(err) {
		t.Errorf("a model with no finished entry got a plot")
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

// BenchmarkWriteSummary: 6 models × 8 settings × 6 Ts, the size of a full
// sweep over the bundled models; plots dominate.
func BenchmarkWriteSummary(b *testing.B) {
	dir := b.TempDir()
	var m strings.Builder
	m.WriteString("data: mnist:test\nT: [8, 16, 32, 64, 128, 256]\nmodels:\n")
	for i := range 6 {
		p := filepath.Join(dir, "m"+strconv.Itoa(i)+".onnx")
		if err := os.WriteFile(p, []byte(p), 0o644); err != nil {
			b.Fatal(err)
		}
		m.WriteString("  - path: " + filepath.Base(p) + "\n")
	}
	m.WriteString("settings:\n")
	for i := range 8 {
		m.WriteString("  - {name: s" + strconv.Itoa(i) + ", percentile: " + strconv.Itoa(90+i) + "}\n")
	}
	mp := filepath.Join(dir, "m.yaml")
	if err := os.WriteFile(mp, []byte(m.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	plan, err := ReadManifest(mp)
	if err != nil {
		b.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	if _, err := Run(context.Background(), plan, Options{Out: out, Jobs: 4}, (&fake{}).evaluate); err != nil {
		b.Fatal(err)
	}
	stored, err := Collect(out, plan)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if err := WriteSummary(out, plan, stored); err != nil {
			b.Fatal(err)
		}
	}
}
