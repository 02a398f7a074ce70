package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/snnconvert/snnconvert/ann"
	"github.com/snnconvert/snnconvert/convert"
	"github.com/snnconvert/snnconvert/importer"
	"github.com/snnconvert/snnconvert/normalize"
	"github.com/snnconvert/snnconvert/snnrt"
)

// TestHumanNumbers: counts and rates keep three significant digits below
// 1,000 and take an SI suffix above it.
func TestHumanNumbers(t *testing.T) {
	for _, c := range []struct {
		v          float64
		human, dig string
	}{
		{0.4812, "0.48", "0.48"},
		{7, "7", "7"},
		{0, "0", "0"},
		{12.345, "12.3", "12.3"},
		{999.4, "999", "999"},
		{3441.2, "3.4k", "3441"},
		{6.26e9, "6.26G", "6260000000"},
		{2.2e6, "2.20M", "2200000"},
	} {
		if got := human(c.v); got != c.human {
			t.Errorf("human(%v) = %q, want %q", c.v, got, c.human)
		}
		if got := digits3(c.v); got != c.dig {
			t.Errorf("digits3(%v) = %q, want %q", c.v, got, c.dig)
		}
	}
}

// run on a converted bundled model: the JSON report's checkpoints, costs
// and energy, the same figures in the table, early exit, and usage errors
// that name what is wrong.
func TestRunCommand(t *testing.T) {
	model := endToEndModel(t, "mlp")
	snn := filepath.Join(t.TempDir(), "mlp.snn.onnx")
	co := convertFlags{out: snn, calib: "mnist:train:200", norm: string(normalize.DefaultMethod), percentile: normalize.DefaultPercentile,
		reset: "subtract", vinit: convert.DefaultVInit, encoding: "analog", scaleInto: "thresholds"}
	if err := runConvert(&bytes.Buffer{}, model, &co); err != nil {
		t.Fatal(err)
	}
	g, err := importer.ImportFile(model)
	if err != nil {
		t.Fatal(err)
	}
	_, annMACs := ann.MACs(g)

	run := func(o runFlags) (string, error) {
		t.Helper()
		var out, errw bytes.Buffer
		err := runSNN(&out, &errw, snn, &o)
		return out.String(), err
	}
	out, err := run(runFlags{data: "mnist:test:64", T: 16, asJSON: true})
	if err != nil {
		t.Fatal(err)
	}
	var r runReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	var ts []int
	for _, p := range r.Points {
		ts = append(ts, p.T)
	}
	if r.Samples != 64 || r.T != 16 || r.Encoding != snnrt.EncodingAnalog || !slices.Equal(ts, []int{1, 2, 4, 8, 16}) {
		t.Fatalf("report: %d samples, T=%d, %s, checkpoints %v", r.Samples, r.T, r.Encoding, ts)
	}
	if last := r.Points[len(r.Points)-1]; last.Accuracy < 0.9 || last.Correct != int(last.Accuracy*64+0.5) {
		t.Errorf("accuracy at T=16: %+v", last)
	}
	if r.ANNMACs != float64(annMACs) || annMACs != 784*512+512*256+256*10 {
		t.Errorf("ANN MACs per image %v, ann.MACs of the source %d", r.ANNMACs, annMACs)
	}
	// Analog input: the first layer's MACs are done once, on the image's
	// non-zero pixels only; the other layers cost ACs.
	if r.MACs <= 0 || r.MACs >= 784*512 || r.ACs <= 0 || len(r.Layers) != 2 || r.Layers[0].Spikes == 0 {
		t.Errorf("costs: MACs %v, ACs %v, layers %+v", r.MACs, r.ACs, r.Layers)
	}
	if f := r.FinalBy; f.P50 < 1 || f.P50 > f.P90 || f.P90 > f.P99 || f.P99 > f.All || f.All > 16 || float64(f.All) < r.MeanFinal {
		t.Errorf("final steps: mean %v, %+v", r.MeanFinal, f)
	}
	if want := snnrt.EnergyEstimate(r.ACs, r.MACs) * 1e6; math.Abs(r.EnergyUJ-want) > 1e-12 || math.Abs(r.ANNEnergyUJ-float64(annMACs)*4.6e-6) > 1e-9 {
		t.Errorf("energy %v µJ (want %v), ANN %v µJ", r.EnergyUJ, want, r.ANNEnergyUJ)
	}

	table, err := run(runFlags{data: "mnist:test:64", T: 16})
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"T=16, encoding analog", "| 16 |", "ANN MACs/image", "535.0k", "| total", "energy per image:",
		fmt.Sprintf("%.3f µJ for one pass of the ANN", r.ANNEnergyUJ), "memory traffic not counted", "images/s",
		fmt.Sprintf("99%% by %d, all by %d", r.FinalBy.P99, r.FinalBy.All)} {
		if !strings.Contains(table, w) {
			t.Errorf("table lacks %q:\n%s", w, table)
		}
	}

	out, err = run(runFlags{data: "mnist:test:64", T: 64, earlyExit: 4, asJSON: true})
	if err != nil {
		t.Fatal(err)
	}
	var e runReport
	if err := json.Unmarshal([]byte(out), &e); err != nil {
		t.Fatal(err)
	}
	if e.EarlyExit != 4 || e.ExitRule != snnrt.ExitExact || e.MeanSteps <= 0 || e.MeanSteps >= 64 {
		t.Errorf("early exit 4 (%s) at T=64: %v steps per image on average", e.ExitRule, e.MeanSteps)
	}
	table, err = run(runFlags{data: "mnist:test:64", T: 64, earlyExit: 4, exitRule: "stable"})
	if err != nil {
		t.Fatal(err)
	}
	const stable = "early exit (stable) after 4 unchanged steps: "
	var steps float64
	if i := strings.Index(table, stable); i < 0 {
		t.Errorf("table lacks %q:\n%s", stable, table)
	} else if _, err := fmt.Sscanf(table[i+len(stable):], "%g", &steps); err != nil || steps < 4 || steps >= e.MeanSteps {
		t.Errorf("stable early exit: %v steps per image (exact: %v), %v", steps, e.MeanSteps, err)
	}

	for _, c := range []struct {
		name string
		path string
		o    runFlags
		want string
	}{
		{"unknown encoding", snn, runFlags{data: "mnist:test:8", T: 4, encoding: "burst"}, `"burst"`},
		{"bad data", snn, runFlags{data: "cifar:test", T: 4}, "cifar"},
		{"missing file", filepath.Join(t.TempDir(), "none.snn.onnx"), runFlags{data: "mnist:test:8", T: 4}, "none.snn.onnx"},
		// The options are checked before the file and the data are read.
		{"no steps", "none.snn.onnx", runFlags{data: "cifar:test", T: 0}, "T = 0"},
		{"checkpoint past T", snn, runFlags{data: "cifar:test", T: 4, checkpoints: []int{9}}, "checkpoint 9 outside 1..T"},
		{"negative batch", snn, runFlags{data: "mnist:test:8", T: 4, batch: -3}, "must not be negative"},
		{"unknown exit rule", snn, runFlags{data: "cifar:test", T: 4, earlyExit: 2, exitRule: "eager"}, `unknown exit rule "eager"`},
		// A network the runtime refuses is refused before the data are read.
		{"max pool of a current", poolOfCurrent(t), runFlags{data: "cifar:test", T: 4, encoding: "rate"}, "changes every step under rate encoding"},
	} {
		var out bytes.Buffer
		err := runSNN(&out, &out, c.path, &c.o)
		if exitCodeOf(err) != exitUsage || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want a usage error mentioning %s", c.name, err, c.want)
		}
	}
}

// run under another encoding than the file's: lenet5 converted for analog
// input max-pools its first layer's current, which rate input does not keep
// constant, so its first IF layer fires before that pool (with a note) and
// has the pool's inputs as neurons.
func TestRunOtherEncoding(t *testing.T) {
	snn := filepath.Join(t.TempDir(), "lenet5.snn.onnx")
	co := convertFlags{out: snn, calib: "mnist:train:100", norm: string(normalize.DefaultMethod), percentile: normalize.DefaultPercentile,
		reset: "subtract", vinit: convert.DefaultVInit, encoding: "analog", scaleInto: "thresholds"}
	if err := runConvert(&bytes.Buffer{}, endToEndModel(t, "lenet5"), &co); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		enc     string
		neurons int
		note    bool
	}{{"analog", 6 * 14 * 14, false}, {"rate", 6 * 28 * 28, true}} {
		var out, errw bytes.Buffer
		if err := runSNN(&out, &errw, snn, &runFlags{data: "mnist:test:64", T: 32, encoding: c.enc, asJSON: true}); err != nil {
			t.Fatalf("%s: %v", c.enc, err)
		}
		var r runReport
		if err := json.Unmarshal(out.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		note := strings.Contains(errw.String(), `note: under rate input, IF "/net/net.1/Relu" fires before max pool "/net/net.2/MaxPool", on its [6 28 28] inputs`)
		if string(r.Encoding) != c.enc || r.Layers[0].Neurons != c.neurons || note != c.note {
			t.Errorf("%s: first IF layer %d neurons (want %d), note %v (want %v):\n%s", c.enc, r.Layers[0].Neurons, c.neurons, note, c.note, errw.String())
		}
		if last := r.Points[len(r.Points)-1]; last.Accuracy < 0.95 {
			t.Errorf("%s: accuracy %v at T=32", c.enc, last.Accuracy)
		}
	}
}

// poolOfCurrent writes a network whose output is a max pool of a conv's
// current: no IF follows it, so under rate input nothing can take its place.
func poolOfCurrent(t *testing.T) string {
	path := filepath.Join(t.TempDir(), "pool.snn.onnx")
	net := &snnrt.Network{Name: "pool", Input: "x", InputShape: []int{1, 4, 4}, Output: "p", Nodes: []*snnrt.Node{
		{Name: "c", Op: snnrt.OpConv, Inputs: []string{"x"}, Output: "c", W: &snnrt.Tensor{Shape: []int{1, 1, 1, 1}, Data: []float32{1}}},
		{Name: "mp", Op: snnrt.OpSpikeMaxPool, Inputs: []string{"c"}, Output: "p", Kernel: []int{2, 2}, Strides: []int{2, 2}},
	}}
	if err := snnrt.Write(path, net); err != nil {
		t.Fatal(err)
	}
	return path
}
