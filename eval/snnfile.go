package eval

import (
	"context"
	"fmt"
	"math"

	"github.com/snnconvert/snnconvert/ann"
	"github.com/snnconvert/snnconvert/convert"
	"github.com/snnconvert/snnconvert/eval/dataset"
	"github.com/snnconvert/snnconvert/snnrt"
)

// loadConverted reads a *.snn.onnx file. To correlate its layers with the
// ANN it needs the IF-layer map, which the file does not store: the source is
// converted again with the settings the file records, and the map is used
// only when that conversion reproduces the file's thresholds exactly.
func loadConverted(ctx context.Context, opt Options, g *ann.Graph, pre dataset.Preprocessing, s *Settings, prog Progress) (*conversion, error) {
	if u := opt.Settings; u.Norm != "" || u.Percentile != 0 || u.Reset != "" || u.VInit != nil || u.Calib != "" || u.Auto {
		return nil, fmt.Errorf("%s is already converted: its normalisation, reset, v_init and calibration are fixed (only encoding and seed apply)", opt.Model)
	}
	net, err := snnrt.Read(opt.Model)
	if err != nil {
		return nil, err
	}
	nm := net.Meta.Normalization
	s.Norm, s.Percentile = nm.Method, nm.Percentile
	if nm.CalibSet != "" {
		s.Calib = nm.CalibSet
	}
	if opt.Settings.Encoding == "" && net.Meta.Encoding != "" {
		s.Encoding = string(net.Meta.Encoding)
	}
	for _, n := range net.Nodes {
		if n.Op == snnrt.OpIF {
			v := float64(n.VInit)
			s.Reset, s.VInit = string(n.Reset), &v
			break
		}
	}
	// Under another encoding than the file's, a max pool of the first
	// layer's current runs after its IF neurons instead (ForEncoding).
	run, notes := net.ForEncoding(snnrt.Encoding(s.Encoding))
	conv := &conversion{net: run, warnings: notes}
	// Without the layer map the input permutation is unknown too; the
	// preprocessing the file records is then the SNN's own input layout.
	if js, ok := net.Meta.Extra["snn.preprocessing"]; ok {
		if p, err := dataset.ParsePreprocessing(js); err == nil {
			conv.snnPre = &p
		}
	}
	calib, err := dataset.Load(s.Calib, pre)
	if err != nil {
		conv.warnings = append(conv.warnings, fmt.Sprintf("no per-layer correlation: calibration set %q recorded in %s cannot be loaded: %v", s.Calib, opt.Model, err))
		return conv, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// The layer map comes from the conversion the file records, its own
	// encoding included (which decides where max pools go).
	fs := *s
	if net.Meta.Encoding != "" {
		fs.Encoding = string(net.Meta.Encoding)
	}
	co := convertOptions(fs, calib, opt.Source, "", 0)
	co.ScaleInto = convert.ScaleInto(nm.ScaleInto)
	co.Progress = calibProgress(prog, "calibration (layer map)")
	again, err := doConvert(g, co)
	prog.Done()
	if err != nil {
		conv.warnings = append(conv.warnings, fmt.Sprintf("no per-layer correlation: converting %s again failed: %v", opt.Source, err))
		return conv, nil
	}
	if why := sameThresholds(net, again.net); why != "" {
		conv.warnings = append(conv.warnings, fmt.Sprintf("no per-layer correlation: %s was not converted from %s with the settings it records (%s)", opt.Model, opt.Source, why))
		return conv, nil
	}
	conv.canon, conv.layers, conv.inputPerm, conv.snnPre = again.canon, again.layers, again.inputPerm, nil
	return conv, nil
}

// sameThresholds says how two networks' IF layers differ ("" when they match
// in names, sizes and thresholds to float32 rounding).
func sameThresholds(a, b *snnrt.Network) string {
	ifs := func(n *snnrt.Network) []*snnrt.Node {
		var out []*snnrt.Node
		for _, x := range n.Nodes {
			if x.Op == snnrt.OpIF {
				out = append(out, x)
			}
		}
		return out
	}
	la, lb := ifs(a), ifs(b)
	if len(la) != len(lb) {
		return fmt.Sprintf("%d IF layers vs %d", len(la), len(lb))
	}
	for i := range la {
		x, y := la[i], lb[i]
		if x.Name != y.Name || len(x.Threshold) != len(y.Threshold) {
			return fmt.Sprintf("IF layer %q vs %q", x.Name, y.Name)
		}
		for j := range x.Threshold {
			if d := math.Abs(float64(x.Threshold[j] - y.Threshold[j])); d > 1e-6*math.Abs(float64(x.Threshold[j])) {
				return fmt.Sprintf("layer %q threshold %d: %v vs %v", x.Name, j, x.Threshold[j], y.Threshold[j])
			}
		}
	}
	return ""
}
