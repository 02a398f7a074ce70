// Command snnconvert converts trained ONNX ANNs into integrate-and-fire SNNs,
// runs them and checks that they still work. The CLI is thin: each subcommand
// parses flags, calls one package function and prints its result; no
// algorithm lives here.
//
// Exit codes: 0 success, 1 a check failed (accuracy below baseline, model not
// convertible where conversion was asked), 2 usage or input error.
package main

import (
	"errors"
	"fmt"
	"os"

	_ "go4.org/unsafe/assume-no-moving-gc"

	"github.com/spf13/cobra"
)

// Exit codes shared by every subcommand.
const (
	exitOK          = 0
	exitCheckFailed = 1
	exitUsage       = 2
)

// exitError carries the process exit code chosen by a subcommand.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// checkFailed wraps err so the process exits with code 1.
func checkFailed(err error) error { return &exitError{code: exitCheckFailed, err: err} }

// usageError wraps err so the process exits with code 2.
func usageError(err error) error { return &exitError{code: exitUsage, err: err} }

var rootCmd = &cobra.Command{
	Use:   "snnconvert",
	Short: "Convert trained ONNX ANNs into integrate-and-fire spiking networks, run and check them",
	Long: `snnconvert turns a trained ReLU network (ONNX) into a spiking neural network of
integrate-and-fire neurons, runs it with a fast event-driven simulator and
checks that it still classifies like the source model.

  model.onnx -> import -> normalize -> convert -> model.snn.onnx -> run -> eval/check

Exit codes: 0 success, 1 a check failed, 2 usage or input error.`,
	SilenceUsage:  true,
	SilenceErrors: true,
}

func main() {
	os.Exit(execute())
}

func execute() int {
	err := rootCmd.Execute()
	if err == nil {
		return exitOK
	}
	fmt.Fprintln(os.Stderr, "snnconvert:", err)
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	// Errors cobra raises itself (unknown flag, bad arguments) are usage errors;
	// every subcommand wraps its own failures explicitly.
	return exitUsage
}
