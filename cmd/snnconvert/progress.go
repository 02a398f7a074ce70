package main

import (
	"io"
	"os"

	"github.com/schollz/progressbar/v3"
)

// quiet silences every progress bar (--quiet).
var quiet bool

func init() {
	rootCmd.PersistentFlags().BoolVarP(&quiet, "quiet", "q", false, "no progress bars on stderr")
}

// newProgress returns a progress bar on stderr for a stage of total units.
// Call Add as work completes and Finish at the end.
func newProgress(total int, desc string) *progressbar.ProgressBar {
	var w io.Writer = os.Stderr
	if quiet {
		w = io.Discard
	}
	return progressbar.NewOptions(total,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionShowCount(),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100_000_000),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionSetPredictTime(true),
	)
}
