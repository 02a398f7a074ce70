package eval

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Plot sizes: wide enough for a dozen layer names under a bar chart.
const (
	plotWidth  = 6 * vg.Inch
	plotHeight = 3.6 * vg.Inch
	// rasterNeurons is how many neurons per layer the raster shows; a conv
	// layer of thousands of neurons would otherwise be an unreadable smear.
	rasterNeurons = 48
)

var (
	colorSNN       = color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}
	colorANN       = color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}
	colorAgreement = color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff}
)

// svgBytes renders p as an SVG document.
func svgBytes(p *plot.Plot, w, h vg.Length) ([]byte, error) {
	wt, err := p.WriterTo(w, h, "svg")
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if _, err := wt.WriteTo(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// AccuracyPlot draws SNN accuracy and agreement against T on a log2 axis,
// with the ANN accuracy as a dashed horizontal line.
func AccuracyPlot(r *Result) ([]byte, error) {
	if len(r.Points) == 0 {
		return nil, fmt.Errorf("accuracy plot: result has no timesteps")
	}
	p := plot.New()
	p.Title.Text = "Accuracy vs timesteps: " + r.Model
	p.X.Label.Text = "timesteps T (log2 scale)"
	p.Y.Label.Text = "accuracy / agreement (%)"
	p.X.Scale = plot.LogScale{}
	ticks := make([]plot.Tick, len(r.Points))
	acc := make(plotter.XYs, len(r.Points))
	agr := make(plotter.XYs, len(r.Points))
	for i, pt := range r.Points {
		ticks[i] = plot.Tick{Value: float64(pt.T), Label: strconv.Itoa(pt.T)}
		acc[i] = plotter.XY{X: float64(pt.T), Y: 100 * pt.Accuracy}
		agr[i] = plotter.XY{X: float64(pt.T), Y: 100 * pt.Agreement}
	}
	p.X.Tick.Marker = plot.ConstantTicks(ticks)
	first, last := float64(r.Points[0].T), float64(r.Points[len(r.Points)-1].T)
	if first == last {
		// A single T still needs a visible ANN line on a log axis.
		first, last = first/2, last*2
	}
	annLine, err := plotter.NewLine(plotter.XYs{{X: first, Y: 100 * r.ANNAccuracy}, {X: last, Y: 100 * r.ANNAccuracy}})
	if err != nil {
		return nil, err
	}
	annLine.Color = colorANN
	annLine.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
	annLine.Width = vg.Points(1.5)

	snnLine, snnPts, err := plotter.NewLinePoints(acc)
	if err != nil {
		return nil, err
	}
	snnLine.Color, snnPts.Color = colorSNN, colorSNN
	snnLine.Width = vg.Points(1.5)
	snnPts.Shape = draw.CircleGlyph{}

	agrLine, agrPts, err := plotter.NewLinePoints(agr)
	if err != nil {
		return nil, err
	}
	agrLine.Color, agrPts.Color = colorAgreement, colorAgreement
	agrLine.Dashes = []vg.Length{vg.Points(2), vg.Points(2)}
	agrPts.Shape = draw.TriangleGlyph{}

	p.Add(plotter.NewGrid(), annLine, agrLine, agrPts, snnLine, snnPts)
	p.Legend.Add(fmt.Sprintf("ANN %.2f%%", 100*r.ANNAccuracy), annLine)
	p.Legend.Add("SNN accuracy", snnLine, snnPts)
	p.Legend.Add("agreement with ANN", agrLine, agrPts)
	p.Legend.Left = false
	p.Legend.Top = false
	p.Legend.XOffs = -vg.Points(6)
	p.Legend.YOffs = vg.Points(6)
	p.Y.Max = math.Min(100.5, math.Max(p.Y.Max, 100*r.ANNAccuracy)+0.5)
	return svgBytes(p, plotWidth, plotHeight)
}

// layerBars draws one value per layer as a bar chart whose y axis spans
// [lo, hi] at least, so bars of different results compare at a glance.
// texts are printed on the bars.
func layerBars(title, ylabel string, names []string, vals []float64, texts []string, lo, hi float64, c color.Color) ([]byte, error) {
	if len(vals) == 0 {
		return nil, fmt.Errorf("%s: result has no spiking layers", title)
	}
	p := plot.New()
	p.Title.Text = title
	p.Y.Label.Text = ylabel
	bars, err := plotter.NewBarChart(plotter.Values(vals), vg.Points(math.Max(6, math.Min(28, 300/float64(len(vals))))))
	if err != nil {
		return nil, err
	}
	bars.Color = c
	bars.LineStyle.Width = 0
	// Values printed on the bars: correlations of 0.997 and 1.000 look the
	// same as bars but are not the same conversion.
	xys := make(plotter.XYs, len(vals))
	for i, v := range vals {
		xys[i] = plotter.XY{X: float64(i), Y: v}
	}
	labels, err := plotter.NewLabels(plotter.XYLabels{XYs: xys, Labels: texts})
	if err != nil {
		return nil, err
	}
	for i := range labels.TextStyle {
		labels.TextStyle[i].XAlign = draw.XCenter
		labels.TextStyle[i].Font.Size = vg.Points(8)
	}
	labels.Offset = vg.Point{Y: vg.Points(3)}
	p.Add(plotter.NewGrid(), bars, labels)
	p.NominalX(names...)
	p.Title.Padding = vg.Points(6)
	p.Y.Min = math.Min(p.Y.Min, lo)
	p.Y.Max = math.Max(p.Y.Max*1.05, hi)
	if len(names) > 6 {
		p.X.Tick.Label.Rotation = math.Pi / 5
		p.X.Tick.Label.XAlign = draw.XRight
		p.X.Tick.Label.YAlign = draw.YCenter
	}
	return svgBytes(p, plotWidth, plotHeight)
}

// CorrelationPlot draws the per-layer Pearson correlation between ANN
// activations and SNN firing rates (undefined correlations drawn as 0).
func CorrelationPlot(r *Result) ([]byte, error) {
	names := make([]string, len(r.Layers))
	vals := make([]float64, len(r.Layers))
	texts := make([]string, len(r.Layers))
	for i, l := range r.Layers {
		names[i], vals[i], texts[i] = l.Name, l.Correlation, strconv.FormatFloat(l.Correlation, 'f', 4, 64)
		if l.CorrUndefined {
			texts[i] = "undefined"
		}
	}
	return layerBars("Per-layer correlation, ANN activation vs SNN rate", "Pearson r", names, vals, texts, 0, 1.05, colorSNN)
}

// RatePlot draws the per-layer mean firing rate.
func RatePlot(r *Result) ([]byte, error) {
	names := make([]string, len(r.Layers))
	vals := make([]float64, len(r.Layers))
	texts := make([]string, len(r.Layers))
	for i, l := range r.Layers {
		names[i], vals[i], texts[i] = l.Name, l.MeanRate, strconv.FormatFloat(l.MeanRate, 'f', 4, 64)
	}
	return layerBars("Per-layer mean firing rate", "spikes per neuron per step", names, vals, texts, 0, 0, colorAgreement)
}

// rasterRows picks which neurons of a layer the raster shows: up to
// rasterNeurons of those that fired at all, evenly spread over the layer, so
// the plot shows activity rather than a band of silent neurons.
func rasterRows(l RasterLayer) []int32 {
	fired := map[int32]bool{}
	for _, step := range l.Spikes {
		for _, n := range step {
			fired[n] = true
		}
	}
	active := make([]int32, 0, len(fired))
	for n := int32(0); n < int32(l.Neurons); n++ {
		if fired[n] {
			active = append(active, n)
		}
	}
	if len(active) <= rasterNeurons {
		return active
	}
	rows := make([]int32, rasterNeurons)
	for i := range rows {
		rows[i] = active[i*len(active)/rasterNeurons]
	}
	return rows
}

// RasterPlot draws the spikes of one sample: one band per layer, one row per
// shown neuron, one dot per spike.
func RasterPlot(rs *Raster) ([]byte, error) {
	if rs == nil || len(rs.Layers) == 0 {
		return nil, fmt.Errorf("raster plot: no spikes recorded")
	}
	p := plot.New()
	p.Title.Text = fmt.Sprintf("Spike raster, sample %d (label %d)", rs.Sample, rs.Label)
	p.X.Label.Text = "step"
	p.Y.Label.Text = "layer (active neurons, up to " + strconv.Itoa(rasterNeurons) + " each)"
	var ticks []plot.Tick
	offset := 0.0
	for li, l := range rs.Layers {
		rows := rasterRows(l)
		rowOf := make(map[int32]float64, len(rows))
		for i, n := range rows {
			rowOf[n] = offset + float64(i)
		}
		var pts plotter.XYs
		for t, step := range l.Spikes {
			for _, n := range step {
				if y, ok := rowOf[n]; ok {
					pts = append(pts, plotter.XY{X: float64(t + 1), Y: y})
				}
			}
		}
		band := math.Max(1, float64(len(rows)))
		ticks = append(ticks, plot.Tick{Value: offset + band/2, Label: l.Name})
		offset += band + 4
		if len(pts) == 0 {
			continue
		}
		s, err := plotter.NewScatter(pts)
		if err != nil {
			return nil, err
		}
		s.Color = plotutil.DarkColors[li%len(plotutil.DarkColors)]
		s.Shape = draw.BoxGlyph{}
		s.Radius = vg.Points(1.2)
		p.Add(s)
	}
	p.Y.Tick.Marker = plot.ConstantTicks(ticks)
	p.X.Min, p.X.Max = 0, float64(rs.Steps)+1
	p.Y.Min, p.Y.Max = -1, offset-3
	return svgBytes(p, plotWidth, plotHeight+vg.Inch)
}
