package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"

	"github.com/spf13/cobra"

	"github.com/snnconvert/snnconvert/ann"
	"github.com/snnconvert/snnconvert/eval/gorgonnx"
	"github.com/snnconvert/snnconvert/importer"
	"github.com/snnconvert/snnconvert/internal/npz"
)

var inferOpts struct {
	input     string
	output    string
	array     string
	reference string
	batch     int
}

var inferCmd = &cobra.Command{
	Use:   "infer MODEL.onnx --input X.npz --output Y.npz",
	Short: "Run the ANN on an array and write its outputs",
	Long: `infer runs the source model (as imported, on the ann executor) on the array
x of an .npz file — [N, per-sample input shape], already preprocessed the way
the model expects — and writes the model's first output as the array logits
of a new .npz file (written atomically).

--reference gorgonia runs the original ONNX bytes through onnx-go's gorgonnx
backend instead, the independent reference; it fails with a reason for models
that backend cannot run.

Exit codes: 0 success, 2 bad input (model, array or shape).`,
	Example: `  snnconvert infer models/lenet5.onnx --input x.npz --output y.npz
  snnconvert infer models/lenet5.onnx --input x.npz --output y_ref.npz --reference gorgonia`,
	Args: cobra.ExactArgs(1),
	RunE: func(cmd *cobra.Command, args []string) error {
		return runInfer(cmd.ErrOrStderr(), args[0])
	},
}

func init() {
	f := inferCmd.Flags()
	f.StringVar(&inferOpts.input, "input", "", "input .npz file (required)")
	f.StringVar(&inferOpts.output, "output", "", "output .npz file (required)")
	f.StringVar(&inferOpts.array, "array", "x", "name of the input array in --input")
	f.StringVar(&inferOpts.reference, "reference", "", `"gorgonia" to run the gorgonnx reference instead of the ann executor`)
	f.IntVar(&inferOpts.batch, "batch", 256, "samples per executor run")
	_ = inferCmd.MarkFlagRequired("input")
	_ = inferCmd.MarkFlagRequired("output")
	rootCmd.AddCommand(inferCmd)
}

func runInfer(stderr io.Writer, modelPath string) error {
	o := inferOpts
	if o.reference != "" && o.reference != "gorgonia" {
		return usageError(fmt.Errorf("--reference %q: the only reference is \"gorgonia\"", o.reference))
	}
	if o.batch < 1 {
		return usageError(fmt.Errorf("--batch %d must be positive", o.batch))
	}
	arrays, err := npz.ReadFile(o.input)
	if err != nil {
		return usageError(err)
	}
	a, ok := arrays[o.array]
	if !ok {
		names := make([]string, 0, len(arrays))
		for k := range arrays {
			names = append(names, k)
		}
		slices.Sort(names)
		return usageError(fmt.Errorf("%s has no array %q (arrays: %v)", o.input, o.array, names))
	}
	if len(a.Shape) < 1 || a.Shape[0] < 1 {
		return usageError(fmt.Errorf("%s: array %q has shape %v; want [N, ...] with N >= 1", o.input, o.array, a.Shape))
	}
	x := &ann.Tensor{Shape: a.Shape, Data: a.Data}

	var y *ann.Tensor
	if o.reference == "gorgonia" {
		model, err := os.ReadFile(modelPath)
		if err != nil {
			return usageError(err)
		}
		if y, err = gorgonnx.Run(model, x); err != nil {
			if errors.Is(err, gorgonnx.ErrUnsupported) {
				return usageError(fmt.Errorf("%s: the gorgonia reference cannot run this model: %w (run without --reference to use the ann executor)", modelPath, err))
			}
			return usageError(fmt.Errorf("%s: %w", modelPath, err))
		}
	} else {
		g, err := importer.ImportFile(modelPath)
		if err != nil {
			return usageError(err)
		}
		if y, err = runANN(g, x, o.batch); err != nil {
			return usageError(fmt.Errorf("%s: %w", modelPath, err))
		}
	}
	if err := npz.WriteFile(o.output, map[string]*npz.Array{"logits": {Shape: y.Shape, DType: "f4", Data: y.Data}}); err != nil {
		return usageError(err)
	}
	fmt.Fprintf(stderr, "wrote %s: logits %v\n", o.output, y.Shape)
	return nil
}

// runANN runs g's first output on x in batches.
func runANN(g *ann.Graph, x *ann.Tensor, batch int) (*ann.Tensor, error) {
	if len(g.Inputs) != 1 {
		return nil, fmt.Errorf("the model has %d inputs; infer feeds exactly one", len(g.Inputs))
	}
	in := g.Inputs[0]
	per := ann.Numel(in.Shape)
	n := x.Shape[0]
	if !slices.Equal(x.Shape[1:], in.Shape) {
		if ann.Numel(x.Shape[1:]) != per {
			return nil, fmt.Errorf("input array has per-sample shape %v, the model's input %q wants %v", x.Shape[1:], in.Name, in.Shape)
		}
		// Same values, different nesting (e.g. [N,784] for [N,1,28,28]):
		// row-major data is already laid out right.
	}
	ex, err := ann.NewExecutor(g, ann.ExecOptions{})
	if err != nil {
		return nil, err
	}
	defer runtime.KeepAlive(ex)
	bar := newProgress(n, "infer")
	var y *ann.Tensor
	for from := 0; from < n; from += batch {
		b := min(batch, n-from)
		chunk := &ann.Tensor{Shape: append([]int{b}, in.Shape...), Data: x.Data[from*per : (from+b)*per]}
		out, err := ex.Run(map[string]*ann.Tensor{in.Name: chunk})
		if err != nil {
			return nil, err
		}
		o := out[g.Outputs[0]]
		if y == nil {
			y = &ann.Tensor{Shape: append([]int{n}, o.Shape[1:]...), Data: make([]float32, 0, n*ann.Numel(o.Shape[1:]))}
		}
		y.Data = append(y.Data, o.Data...)
		_ = bar.Add(b)
	}
	_ = bar.Finish()
	return y, nil
}
