package dataset

import (
	"bufio"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPreprocessingForCorpus(t *testing.T) {
	f, err := os.Open(filepath.Join(CorpusDir(), "MANIFEST.tsv"))
	if err != nil {
		t.Skipf("shared corpus not found at %s: %v", CorpusDir(), err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	sc.Scan() // header
	rows := 0
	for sc.Scan() {
		cols := strings.Split(sc.Text(), "\t")
		if len(cols) < 3 {
			continue
		}
		rows++
		p, ok := PreprocessingFor(filepath.Join(CorpusDir(), cols[2]))
		if !ok {
			t.Errorf("%s: no preprocessing", cols[0])
			continue
		}
		if err := p.Validate(); err != nil {
			t.Errorf("%s: %v", cols[0], err)
		}
	}
	if rows < 20 {
		t.Errorf("read %d corpus rows", rows)
	}
}

func TestPreprocessingForBundledAndUnknown(t *testing.T) {
	p, ok := PreprocessingFor("../../models/lenet5.onnx")
	if _, err := os.Stat("../../models/MANIFEST.json"); err == nil {
		if !ok || p.Layout != LayoutNCHW || math.Abs(p.Scale-1.0/255) > 1e-12 {
			t.Errorf("lenet5: %+v %v", p, ok)
		}
	}
	if _, ok := PreprocessingFor("/nowhere/mystery.onnx"); ok {
		t.Error("unknown model got a preprocessing")
	}
}

func TestParsePreprocessing(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    Preprocessing
		wantErr bool
	}{
		{in: "scale=1/255,mean=0.1307,std=0.3081,layout=NCHW", want: Preprocessing{Layout: LayoutNCHW, Scale: 1.0 / 255, Mean: []float64{0.1307}, Std: []float64{0.3081}}},
		{in: "layout=NHWC,scale=0.5,mean=0.1:0.2:0.3", want: Preprocessing{Layout: LayoutNHWC, Scale: 0.5, Mean: []float64{0.1, 0.2, 0.3}}},
		{in: "layout=flat,scale=1,shape=784x1", want: Preprocessing{Layout: LayoutFlat, Scale: 1, Shape: []int{784, 1}}},
		{in: `{"layout":"NHW","scale":0.0078125,"mean":[1]}`, want: Preprocessing{Layout: LayoutNHW, Scale: 0.0078125, Mean: []float64{1}}},
		{in: "mean=0.5", wantErr: true},
		{in: "scale=1/0", wantErr: true},
		{in: "scale=1,color=red", wantErr: true},
		{in: "layout=CHWN,scale=1", wantErr: true},
		{in: "", wantErr: true},
	} {
		got, err := ParsePreprocessing(tc.in)
		if (err != nil) != tc.wantErr {
			t.Errorf("%q: err %v", tc.in, err)
			continue
		}
		if !tc.wantErr && (got.Layout != tc.want.Layout || math.Abs(got.Scale-tc.want.Scale) > 1e-15 ||
			len(got.Mean) != len(tc.want.Mean) || len(got.Std) != len(tc.want.Std) || len(got.Shape) != len(tc.want.Shape)) {
			t.Errorf("%q: got %+v, want %+v", tc.in, got, tc.want)
		}
	}
}
