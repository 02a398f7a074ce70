package dataset

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// PreprocessingFor returns the input preprocessing a model expects, never
// guessed: from the MANIFEST.json next to the model (the bundled models,
// matched by file name), else from the table of shared-corpus models below
// (matched by file name without .onnx). ok is false when neither knows the
// model; callers must then ask the user (--preprocess).
func PreprocessingFor(modelPath string) (Preprocessing, bool) {
	base := filepath.Base(modelPath)
	if p, ok := fromManifest(filepath.Join(filepath.Dir(modelPath), "MANIFEST.json"), base); ok {
		return p, true
	}
	p, ok := corpusPreprocessing[strings.TrimSuffix(base, ".onnx")]
	if !ok {
		return Preprocessing{}, false
	}
	p.Mean, p.Std, p.Shape = append([]float64(nil), p.Mean...), append([]float64(nil), p.Std...), append([]int(nil), p.Shape...)
	return p, true
}

// fromManifest reads the preprocessing of file from a models/MANIFEST.json
// written by scripts/train_mnist.py.
func fromManifest(path, file string) (Preprocessing, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Preprocessing{}, false
	}
	var m struct {
		Models []struct {
			File          string        `json:"file"`
			Preprocessing Preprocessing `json:"preprocessing"`
		} `json:"models"`
	}
	if json.Unmarshal(b, &m) != nil {
		return Preprocessing{}, false
	}
	for _, e := range m.Models {
		if e.File == file && e.Preprocessing.Validate() == nil {
			return e.Preprocessing, true
		}
	}
	return Preprocessing{}, false
}

const (
	inv255 = 1.0 / 255
	inv128 = 1.0 / 128
)

// corpusPreprocessing is the preprocessing column of
// ../shared/onnx-corpus/MANIFEST.tsv, one entry per model (x = (raw·Scale −
// Mean)/Std with raw pixels 0..255).
var corpusPreprocessing = map[string]Preprocessing{
	// Raw 0..255 (the zoo's own test input has max 255).
	"zoo_mnist8_cntk": {Layout: LayoutNCHW, Scale: 1},
	// ToTensor then Normalize(0.5, 0.5): x/127.5 − 1.
	"baskov_mnist_pt25":      {Layout: LayoutNCHW, Scale: 1.0 / 127.5, Mean: []float64{1}},
	"ohhmkar_mlp_tf2onnx117": {Layout: LayoutFlat, Scale: inv255},
	"jdong_keras2onnx160":    {Layout: LayoutNHWC, Scale: inv255},
	"ccol_lenet5_bn1d_pt13":  {Layout: LayoutNCHW, Scale: inv255},
	"makora_pt03_opset6":     {Layout: LayoutNCHW, Scale: inv255, Mean: []float64{0.1307}, Std: []float64{0.3081}},
	// uint8 input; the graph casts and divides by 255 itself.
	"axonum_uint8_argmax_pt211": {Layout: LayoutNCHW, Scale: 1},
	"verivital_avgpool_pt16":    {Layout: LayoutNCHW, Scale: inv255},
	// (uint8 − 128)/128 = raw/128 − 1, no channel axis.
	"ai8x_fashionmnist_tf2onnx182": {Layout: LayoutNHW, Scale: inv128, Mean: []float64{1}},
	"ai8x_mnist_tf2onnx182":        {Layout: LayoutNHW, Scale: inv128, Mean: []float64{1}},
	"ai8x_cifar100_tf2onnx182":     {Layout: LayoutNCHW, Scale: inv128, Mean: []float64{1}},
	"vnn_resnet2b_pt18": {Layout: LayoutNCHW, Scale: inv255,
		Mean: []float64{0.4914, 0.4822, 0.4465}, Std: []float64{0.2471, 0.2435, 0.2616}},
	// The graph subtracts 0.1307 and divides by 0.3081 itself.
	"eran_relu9x200_subdiv_pt17":  {Layout: LayoutNCHW, Scale: inv255},
	"anshaj_cifar10_tf2onnx1161":  {Layout: LayoutNHWC, Scale: inv255},
	"refrain_cifar_tutorial_pt17": {Layout: LayoutNCHW, Scale: inv255, Mean: []float64{0.5}, Std: []float64{0.5}},
	"vnn22_cifar_base_allconv_pt111": {Layout: LayoutNCHW, Scale: inv255,
		Mean: []float64{0.485, 0.456, 0.406}, Std: []float64{0.229, 0.224, 0.225}},
	"wuhan_mnist_sm_keras2onnx151": {Layout: LayoutNHWC, Scale: inv255},
	// Undocumented upstream; MNIST mean/std measured best (96.53 % vs 73.69 %).
	"aclex_k210_allconv_pt18":      {Layout: LayoutNCHW, Scale: inv255, Mean: []float64{0.1307}, Std: []float64{0.3081}},
	"pcelis_pool_dynflatten_pt113": {Layout: LayoutNCHW, Scale: inv255},
	// [784, 1]: a trailing singleton axis the graph flattens away.
	"mnistfc_256x2_pt13": {Layout: LayoutFlat, Shape: []int{784, 1}, Scale: inv255},
	// Negative cases: the preprocessing the source's test loader uses.
	"NEG_cifar100edge_selu_untrained": {Layout: LayoutNCHW, Scale: inv255},
	"NEG_eran_sigmoid_6x200":          {Layout: LayoutNCHW, Scale: inv255},
	"NEG_akinobu_tf1_accuracy_graph":  {Layout: LayoutFlat, Scale: inv255},
	"NEG_ccol_mnist_untrained_pt17":   {Layout: LayoutNCHW, Scale: inv255},
}

// ParsePreprocessing reads a --preprocess value: JSON as in MANIFEST.json
// ({"layout":"NCHW","scale":0.00392,"mean":[0.1307],"std":[0.3081]}) or the
// short form layout=NCHW,scale=1/255,mean=0.1307,std=0.3081 where lists use
// ':' (mean=0.49:0.48:0.45) and shape uses 'x' (shape=784x1). Unset scale
// is an error: there is no default to fall back on.
func ParsePreprocessing(s string) (Preprocessing, error) {
	var p Preprocessing
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "{") {
		if err := json.Unmarshal([]byte(s), &p); err != nil {
			return p, fmt.Errorf("--preprocess JSON: %w", err)
		}
		if err := p.Validate(); err != nil {
			return p, err
		}
		return p, nil
	}
	if s == "" {
		return p, errors.New("--preprocess is empty")
	}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok {
			return p, fmt.Errorf("--preprocess %q: want key=value pairs separated by commas", kv)
		}
		var err error
		switch k {
		case "layout":
			p.Layout = Layout(v)
			if strings.EqualFold(v, "flat") {
				p.Layout = LayoutFlat
			}
		case "scale":
			p.Scale, err = parseNumber(v)
		case "mean":
			p.Mean, err = parseList(v)
		case "std":
			p.Std, err = parseList(v)
		case "shape":
			for _, d := range strings.Split(v, "x") {
				n, e := strconv.Atoi(d)
				if e != nil || n <= 0 {
					return p, fmt.Errorf("--preprocess shape %q: want positive integers joined by x", v)
				}
				p.Shape = append(p.Shape, n)
			}
		default:
			return p, fmt.Errorf("--preprocess: unknown key %q (want layout, scale, mean, std, shape)", k)
		}
		if err != nil {
			return p, fmt.Errorf("--preprocess %s: %w", k, err)
		}
	}
	if p.Layout == "" {
		p.Layout = LayoutNCHW
	}
	return p, p.Validate()
}

// parseNumber accepts a float or a fraction a/b.
func parseNumber(s string) (float64, error) {
	if a, b, ok := strings.Cut(s, "/"); ok {
		x, err1 := strconv.ParseFloat(a, 64)
		y, err2 := strconv.ParseFloat(b, 64)
		if err1 != nil || err2 != nil || y == 0 {
			return 0, fmt.Errorf("%q is not a number or a fraction", s)
		}
		return x / y, nil
	}
	x, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	return x, nil
}

func parseList(s string) ([]float64, error) {
	var out []float64
	for _, f := range strings.Split(s, ":") {
		x, err := parseNumber(f)
		if err != nil {
			return nil, err
		}
		out = append(out, x)
	}
	return out, nil
}
