package eval

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/snnconvert/snnconvert/convert"
	"github.com/snnconvert/snnconvert/eval/dataset"
	"github.com/snnconvert/snnconvert/importer"
	"github.com/snnconvert/snnconvert/snnrt"
)

// bundled returns the path of a bundled model, skipping when the training
// script has not produced it.
func bundled(t *testing.T, name string) string {
	t.Helper()
	p := filepath.Join("..", "models", name+".onnx")
	if _, err := os.Stat(p); err != nil {
		t.Skipf("bundled model %s not present (scripts/train_mnist.py writes it): %v", p, err)
	}
	return p
}

// countingProgress checks that every stage is announced and completed.
type countingProgress struct {
	stages []string
	added  map[string]int
	cur    string
}

func (p *countingProgress) Stage(name string, total int) {
	p.stages = append(p.stages, name)
	p.cur = name
	if p.added == nil {
		p.added = map[string]int{}
	}
}
func (p *countingProgress) Add(n int) { p.added[p.cur] += n }
func (p *countingProgress) Done()     {}

func TestEvaluateLeNet5(t *testing.T) {
	model := bundled(t, "lenet5")
	prog := &countingProgress{}
	r, err := Evaluate(context.Background(), Options{
		Model: model, Data: "mnist:test:200", Ts: []int{8, 16, 32, 64, 128},
		Settings: Settings{Calib: "mnist:train:500"}, Progress: prog, Reference: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", Table(r))
	if r.Samples != 200 || len(r.Points) != 5 || r.Points[4].T != 128 {
		t.Fatalf("samples %d, points %+v", r.Samples, r.Points)
	}
	if r.ANNAccuracy < 0.95 {
		t.Errorf("ANN accuracy %.3f on 200 test digits: the bundled LeNet-5 reaches > 0.98", r.ANNAccuracy)
	}
	p128 := r.Points[4]
	if p128.Agreement < 0.97 {
		t.Errorf("agreement at T=128 %.3f, want ≥ 0.97", p128.Agreement)
	}
	if p128.GapPP > 3 {
		t.Errorf("SNN at T=128 is %.2f pp below the ANN, want ≤ 3", p128.GapPP)
	}
	if r.Points[0].Agreement > p128.Agreement+0.02 {
		t.Errorf("agreement falls with T: %.3f at 8, %.3f at 128", r.Points[0].Agreement, p128.Agreement)
	}
	if len(r.Layers) < 4 {
		t.Fatalf("%d IF layers, LeNet-5 has 4", len(r.Layers))
	}
	if l := r.Layers[0]; l.CorrUndefined || l.Correlation < 0.9 {
		t.Errorf("first layer %s: correlation %.4f (undefined %v), want > 0.9", l.Name, l.Correlation, l.CorrUndefined)
	}
	for _, l := range r.Layers {
		if l.MeanRate <= 0 || l.MeanRate > 1 {
			t.Errorf("layer %s: mean rate %v outside (0, 1]", l.Name, l.MeanRate)
		}
	}
	if r.ANNMACs < 200e3 || r.MACs <= 0 || r.ACs <= 0 || r.EnergySNNuJ <= 0 || r.ImagesPerSec <= 0 {
		t.Errorf("costs: ANN MACs %v, MACs %v, ACs %v, energy %v µJ, %v images/s", r.ANNMACs, r.MACs, r.ACs, r.EnergySNNuJ, r.ImagesPerSec)
	}
	if r.Raster == nil || len(r.Raster.Layers) == 0 || r.Raster.Label != 7 {
		t.Errorf("raster %+v: want the first test digit (a 7)", r.Raster)
	}
	if rc := r.Reference; rc == nil || !rc.Supported || !rc.Agree || rc.Samples != 200 || rc.MaxAbsDiff > 1e-3 {
		t.Errorf("gorgonia reference on LeNet-5 (which it supports): %+v", rc)
	}
	want := "calibration ANN reference (gorgonia) SNN"
	if got := strings.Join(prog.stages, " "); got != want {
		t.Errorf("stages %q, want %q", got, want)
	}
	if prog.added["SNN"] != 200 || prog.added["ANN"] != 200 {
		t.Errorf("progress counted %v, want 200 samples for ANN and SNN", prog.added)
	}
}

// A converted file evaluated with its source must give exactly the figures
// of converting on the fly with the same settings: same network, same data.
func TestEvaluateSNNFileMatchesOnTheFly(t *testing.T) {
	model := bundled(t, "mlp")
	ctx := context.Background()
	base := Options{Model: model, Data: "mnist:test:100", Ts: []int{16, 64}, Settings: Settings{Calib: "mnist:train:300"}}
	direct, err := Evaluate(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	file := convertedFile(t, model, direct.Settings, 64)
	fromFile, err := Evaluate(ctx, Options{Model: file, Source: model, Data: base.Data, Ts: base.Ts})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(fromFile.Points, direct.Points) || fromFile.ANNCorrect != direct.ANNCorrect {
		t.Errorf("points from file %+v\non the fly %+v", fromFile.Points, direct.Points)
	}
	if len(fromFile.Layers) != len(direct.Layers) {
		t.Fatalf("layers from file %+v\non the fly %+v", fromFile.Layers, direct.Layers)
	}
	for i := range direct.Layers {
		a, b := fromFile.Layers[i], direct.Layers[i]
		if a.CorrUndefined || math.Abs(a.Correlation-b.Correlation) > 1e-9 || a.MeanRate != b.MeanRate {
			t.Errorf("layer %d: from file %+v, on the fly %+v", i, a, b)
		}
	}
	if fromFile.Settings.Norm != DefaultNorm || fromFile.Settings.Percentile != DefaultPercentile || fromFile.Settings.Calib != "mnist:train:300" {
		t.Errorf("settings read back from the file: %+v", fromFile.Settings)
	}

	// Conversion settings cannot be changed on a converted file.
	_, err = Evaluate(ctx, Options{Model: file, Source: model, Data: base.Data, Settings: Settings{Norm: "max"}})
	if err == nil || !strings.Contains(err.Error(), "already converted") {
		t.Errorf("--norm on a converted file: err = %v", err)
	}
	_, err = Evaluate(ctx, Options{Model: file, Data: base.Data})
	if err == nil || !strings.Contains(err.Error(), "source model is needed") {
		t.Errorf("converted file without source: err = %v", err)
	}
}

// convertedFile converts model with settings s (calibration included) and
// writes the result to a *.snn.onnx file.
func convertedFile(t *testing.T, model string, s Settings, maxT int) string {
	t.Helper()
	g, err := importer.ImportFile(model)
	if err != nil {
		t.Fatal(err)
	}
	pre, _ := dataset.PreprocessingFor(model)
	calib, err := dataset.Load(s.Calib, pre)
	if err != nil {
		t.Fatal(err)
	}
	net, _, err := convert.Convert(g, convertOptions(s, calib, model, "", maxT))
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), strings.TrimSuffix(filepath.Base(model), ".onnx")+".snn.onnx")
	if err := snnrt.Write(file, net); err != nil {
		t.Fatal(err)
	}
	return file
}

// A file converted for analog input whose first max pool takes the
// conv's current, evaluated under rate input: its first IF layer fires
// before that pool (the runtime's move, noted), has the pool's inputs as
// neurons and so no ANN value to correlate with; the layer map comes from
// the conversion the file records (analog), so the other layers keep their
// correlation.
func TestEvaluateSNNFileOtherEncoding(t *testing.T) {
	model := bundled(t, "lenet5")
	ctx := context.Background()
	file := convertedFile(t, model, Settings{Calib: "mnist:train:200", Encoding: "analog"}.withDefaults("mnist:test:100"), 32)
	r, err := Evaluate(ctx, Options{Model: file, Source: model, Data: "mnist:test:100", Ts: []int{32}, Settings: Settings{Encoding: "rate"}})
	if err != nil {
		t.Fatal(err)
	}
	warn := strings.Join(r.Warnings, "\n")
	if !strings.Contains(warn, `under rate input, IF "/net/net.1/Relu" fires before max pool "/net/net.2/MaxPool"`) || strings.Contains(warn, "not converted from") {
		t.Errorf("warnings:\n%s", warn)
	}
	if r.Settings.Encoding != "rate" || !r.HasMaxPool || len(r.Layers) != 4 || r.Layers[0].Neurons != 6*28*28 || !r.Layers[0].CorrUndefined {
		t.Fatalf("encoding %s, spiking max pool %v, layers %+v", r.Settings.Encoding, r.HasMaxPool, r.Layers)
	}
	for _, l := range r.Layers[1:] {
		if l.CorrUndefined || l.Correlation < 0.5 {
			t.Errorf("layer %s: correlation %v (undefined %v)", l.Name, l.Correlation, l.CorrUndefined)
		}
	}
	if p := r.Points[0]; p.Accuracy < 0.95 {
		t.Errorf("accuracy at T=32 under rate input: %+v", p)
	}
}

func TestEvaluateAuto(t *testing.T) {
	model := bundled(t, "mlp")
	r, err := Evaluate(context.Background(), Options{
		Model: model, Data: "mnist:test:100", Ts: []int{8, 32},
		Settings: Settings{Auto: true, Calib: "mnist:train:200", TargetT: 8},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("chosen: %s", r.Chosen)
	if !r.Settings.Auto || r.Chosen == "" {
		t.Fatalf("settings %+v, chosen %q", r.Settings, r.Chosen)
	}
	var cand *autoCandidate
	for i, c := range autoCandidates {
		if c.norm == r.Settings.Norm && c.percentile == r.Settings.Percentile {
			cand = &autoCandidates[i]
		}
	}
	if cand == nil {
		t.Fatalf("chosen settings %s/%v are not a candidate", r.Settings.Norm, r.Settings.Percentile)
	}
	if !strings.HasPrefix(r.Chosen, cand.String()+":") || !strings.Contains(r.Chosen, "100 held-apart") ||
		strings.Count(r.Chosen, "%,")+1 != len(autoCandidates) {
		t.Errorf("explanation does not name the winner first and list all %d candidates: %s", len(autoCandidates), r.Chosen)
	}
}

func TestAutoScoreRanking(t *testing.T) {
	a := autoScore{agree: []int{50, 80, 95}}
	b := autoScore{agree: []int{60, 85, 94}}
	c := autoScore{agree: []int{70, 90, 95}}
	if !a.better(b) || b.better(a) {
		t.Error("higher agreement at the target T must win")
	}
	if !c.better(a) || a.better(c) {
		t.Error("on a tie at the target T, higher agreement at smaller T must win")
	}
	if a.better(a) {
		t.Error("a full tie must not displace the earlier candidate")
	}
	if got := autoCheckpoints(32); !reflect.DeepEqual(got, []int{1, 2, 4, 8, 16, 32}) {
		t.Errorf("autoCheckpoints(32) = %v", got)
	}
	if got := autoCheckpoints(24); !reflect.DeepEqual(got, []int{1, 2, 4, 8, 16, 24}) {
		t.Errorf("autoCheckpoints(24) = %v", got)
	}
}

// Loaded last: eval/dataset caches the idx files and (as of this writing)
// truncates the cached set on a :N load, so the small sets here must not
// precede the larger ones above.
func TestEvaluateRejectsBadInput(t *testing.T) {
	model := bundled(t, "mlp")
	tests := []struct {
		name string
		opt  Options
		want string
	}{
		{"no data", Options{Model: model}, "no data set"},
		{"bad T", Options{Model: model, Data: "mnist:test:10", Ts: []int{8, -1}}, "not positive"},
		{"bad norm", Options{Model: model, Data: "mnist:test:10", Settings: Settings{Norm: "median"}}, "median"},
		{"bad percentile", Options{Model: model, Data: "mnist:test:10", Settings: Settings{Percentile: 120}}, "percentile"},
		{"bad encoding", Options{Model: model, Data: "mnist:test:10", Settings: Settings{Encoding: "burst"}}, "burst"},
		{"missing model", Options{Model: "no/such.onnx", Data: "mnist:test:10"}, "no/such.onnx"},
		{"bad data", Options{Model: model, Data: "mnist:valid"}, "mnist:valid"},
		{"auto with tiny calib", Options{Model: model, Data: "mnist:test:10", Settings: Settings{Auto: true, Calib: "mnist:train:10"}}, "at least"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Evaluate(context.Background(), tc.opt)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}
