package eval

import (
	"bytes"
	"encoding/xml"
	"flag"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current renderers")

// fixture is a fixed result shaped like a LeNet-5 evaluation, so the golden
// files show every section a real report has.
func fixture() *Result {
	vinit := 0.5
	r := &Result{
		Model:       "models/lenet5.onnx",
		ModelSHA256: "7fd9964fc4f15916a54ae48818a5e930bbf5d1b024b7d4613ef9aa3904c5c1d4",
		Data:        "mnist:test:1000",
		Samples:     1000,
		Settings: Settings{Norm: "percentile", Percentile: 99.99, Reset: "subtract", VInit: &vinit,
			Encoding: "analog", Calib: "mnist:train:1000", Seed: 1},
		ANNAccuracy: 0.991,
		ANNCorrect:  991,
		Reference:   &RefCheck{Backend: "gorgonia", Supported: true, Samples: 1000, MaxAbsDiff: 2.4e-6, Agree: true},
		Points: []Point{
			{T: 8, Accuracy: 0.954, Correct: 954, Agreement: 0.957, GapPP: 3.7},
			{T: 16, Accuracy: 0.983, Correct: 983, Agreement: 0.986, GapPP: 0.8},
			{T: 32, Accuracy: 0.99, Correct: 990, Agreement: 0.995, GapPP: 0.1},
			{T: 64, Accuracy: 0.991, Correct: 991, Agreement: 0.998, GapPP: 0},
			{T: 128, Accuracy: 0.992, Correct: 992, Agreement: 0.999, GapPP: -0.1},
		},
		TWithin01pp: 32,
		TWithin1pp:  16,
		Layers: []LayerStat{
			{Name: "if_conv1", ANNValue: "relu1", Neurons: 4704, Correlation: 0.9987, MeanRate: 0.1234},
			{Name: "if_conv2", ANNValue: "relu2", Neurons: 1600, Correlation: 0.9912, MeanRate: 0.0876},
			{Name: "if_fc1", ANNValue: "relu3", Neurons: 120, Correlation: 0.9801, MeanRate: 0.2011},
			{Name: "if_fc2", ANNValue: "relu4", Neurons: 84, Correlation: 0, MeanRate: 0, CorrUndefined: true},
		},
		ACs:          152340,
		MACs:         117600,
		ANNMACs:      416520,
		EnergySNNuJ:  0.6781,
		EnergyANNuJ:  1.916,
		ImagesPerSec: 1234.5,
		HasMaxPool:   true,
		Warnings:     []string{"layer if_fc2 never fired on the test data"},
	}
	r.Raster = &Raster{Sample: 0, Label: 7, Steps: 8, Layers: []RasterLayer{
		{Name: "if_conv1", Neurons: 6, Spikes: [][]int32{{0, 2}, {1}, {0, 2, 5}, {}, {0, 2}, {1, 5}, {0, 2}, {}}},
		{Name: "if_fc1", Neurons: 4, Spikes: [][]int32{{}, {3}, {}, {3}, {1}, {3}, {}, {3}}},
	}}
	return r
}

// svgElement matches one inline SVG; the golden HTML keeps its place but not
// its drawing, which is checked on its own below.
var svgElement = regexp.MustCompile(`(?s)<svg .*?</svg>`)

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./eval -run %s -update to create it)", err, t.Name())
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from %s (rerun with -update if the change is intended)\n--- got ---\n%s", name, path, got)
	}
}

func TestGoldenReports(t *testing.T) {
	tests := []struct {
		name   string
		render func(io.Writer, *Result) error
		mask   bool
	}{
		{"report.md", WriteMarkdown, false},
		{"report.html", WriteHTML, true},
		{"table.txt", func(w io.Writer, r *Result) error { _, err := io.WriteString(w, Table(r)); return err }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := tc.render(&b, fixture()); err != nil {
				t.Fatal(err)
			}
			got := b.Bytes()
			if tc.mask {
				got = svgElement.ReplaceAll(got, []byte("<svg>…</svg>"))
			}
			golden(t, tc.name, got)
		})
	}
}

// An HTML report must open offline: no scripts, no external resources.
func TestHTMLSelfContained(t *testing.T) {
	var b bytes.Buffer
	if err := WriteHTML(&b, fixture()); err != nil {
		t.Fatal(err)
	}
	html := b.String()
	if n := strings.Count(html, "<svg "); n != 4 {
		t.Errorf("HTML inlines %d SVG plots, want 4 (accuracy, correlation, rate, raster)", n)
	}
	for _, bad := range []string{"<script", "<link", "src=", "@import", "url("} {
		if strings.Contains(html, bad) {
			t.Errorf("HTML report contains %q: it must not load anything", bad)
		}
	}
	if strings.Contains(html, "<?xml") {
		t.Error("HTML report contains an XML prolog from an inlined SVG")
	}
}

func TestPlotsAreSVGWithTheirLabels(t *testing.T) {
	r := fixture()
	tests := []struct {
		name string
		plot func() ([]byte, error)
		want []string // texts the plot must draw
	}{
		{"accuracy", func() ([]byte, error) { return AccuracyPlot(r) }, []string{"ANN 99.10%", "SNN accuracy", ">128<", ">8<", "log2"}},
		{"correlation", func() ([]byte, error) { return CorrelationPlot(r) }, []string{"if_conv1", "if_fc2", "Pearson r", "0.9987", "undefined"}},
		{"rate", func() ([]byte, error) { return RatePlot(r) }, []string{"if_fc1", "spikes per neuron per step", "0.2011"}},
		{"raster", func() ([]byte, error) { return RasterPlot(r.Raster) }, []string{"label 7", "if_conv1", "if_fc1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := tc.plot()
			if err != nil {
				t.Fatal(err)
			}
			d := xml.NewDecoder(bytes.NewReader(b))
			for {
				if _, err := d.Token(); err == io.EOF {
					break
				} else if err != nil {
					t.Fatalf("not well-formed XML: %v", err)
				}
			}
			for _, w := range tc.want {
				if !bytes.Contains(b, []byte(w)) {
					t.Errorf("plot lacks %q", w)
				}
			}
		})
	}
}

// The raster shows one dot per spike of the neurons it selects; with small
// layers every neuron that fired is shown, silent ones are left out.
func TestRasterRows(t *testing.T) {
	l := RasterLayer{Neurons: 6, Spikes: [][]int32{{0, 2}, {1}, {5}}}
	got := rasterRows(l)
	want := []int32{0, 1, 2, 5}
	if len(got) != len(want) {
		t.Fatalf("rows %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("rows %v, want %v", got, want)
		}
	}
	big := RasterLayer{Neurons: 1000, Spikes: [][]int32{make([]int32, 0, 500)}}
	for n := int32(0); n < 1000; n += 2 {
		big.Spikes[0] = append(big.Spikes[0], n)
	}
	rows := rasterRows(big)
	if len(rows) != rasterNeurons || rows[0] != 0 || rows[len(rows)-1] < 900 {
		t.Fatalf("big layer: %d rows from %d to %d, want %d spread over the layer", len(rows), rows[0], rows[len(rows)-1], rasterNeurons)
	}
}

func TestWriteReport(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	r := fixture()
	if err := WriteReport(dir, r, &Extras{Command: "snnconvert eval models/lenet5.onnx --data mnist:test:1000"}); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	want := "accuracy.svg correlation.svg firing_rate.svg raster.svg report.html report.md result.json"
	if got := strings.Join(names, " "); got != want {
		t.Fatalf("report files: %s\nwant %s (no temporary files left)", got, want)
	}
	md, _ := os.ReadFile(filepath.Join(dir, "report.md"))
	if !bytes.Contains(md, []byte("snnconvert eval models/lenet5.onnx")) {
		t.Error("report.md lacks the command line")
	}
	back, err := ReadJSON(filepath.Join(dir, "result.json"))
	if err != nil {
		t.Fatal(err)
	}
	if back.ANNCorrect != r.ANNCorrect || len(back.Points) != len(r.Points) || back.Points[2] != r.Points[2] ||
		!back.Layers[3].CorrUndefined || *back.Settings.VInit != 0.5 || back.Raster != nil {
		t.Errorf("result.json round trip lost data: %+v", back)
	}
}

func TestReportRejectsEmptyResult(t *testing.T) {
	dir := t.TempDir()
	err := WriteReport(dir, &Result{Model: "m.onnx"}, nil)
	if err == nil || !strings.Contains(err.Error(), "no timesteps") {
		t.Fatalf("err = %v, want a no-timesteps error", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("a failed report left %d files", len(entries))
	}
}
