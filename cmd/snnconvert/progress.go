package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
)

// quiet silences every progress bar (--quiet).
var quiet bool

func init() {
	rootCmd.PersistentFlags().BoolVarP(&quiet, "quiet", "q", false, "no progress bars on stderr")
}

// plainEvery is how often a stage's progress is logged as a plain line when
// stderr is not a terminal.
const plainEvery = 30 * time.Second

// newProgress returns a progress bar on stderr for a stage of total units.
// Call Add as work completes and Finish at the end.
func newProgress(total int, desc string) *progressbar.ProgressBar {
	if quiet {
		return newProgressTo(io.Discard, true, total, desc, plainEvery)
	}
	return newProgressTo(os.Stderr, isTerminal(os.Stderr), total, desc, plainEvery)
}

// isTerminal reports whether f is a character device. A redirected stderr (a
// CI log, a file, a pipe) is not; /dev/null is, which is harmless.
func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// newProgressTo draws a live bar on a terminal. Elsewhere the bar redraws
// itself with \r ten times a second, which in a CI log becomes thousands of
// frames on one line; so w gets a line when the stage starts, its progress
// every `every`, and a line when it ends.
func newProgressTo(w io.Writer, terminal bool, total int, desc string, every time.Duration) *progressbar.ProgressBar {
	opts := []progressbar.Option{
		progressbar.OptionSetDescription(desc),
		progressbar.OptionShowCount(),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100 * time.Millisecond),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionSetPredictTime(true),
	}
	if terminal {
		return progressbar.NewOptions(total, append(opts, progressbar.OptionSetWriter(w))...)
	}
	start := time.Now()
	fmt.Fprintf(w, "%s: %d to do\n", desc, total)
	lines := &plainLines{w: w, every: every, last: start}
	// Finish is also how callers close a stage that failed, so the closing
	// line says the stage ended, not that it succeeded.
	opts = append(opts, progressbar.OptionSetWriter(lines), progressbar.OptionOnCompletion(func() {
		fmt.Fprintf(w, "%s: ended after %s\n", desc, time.Since(start).Round(100*time.Millisecond))
	}))
	return progressbar.NewOptions(total, opts...)
}

// plainLines receives the bar's redraws and passes one on, as a plain line,
// when `every` has passed since the last.
type plainLines struct {
	mu    sync.Mutex
	w     io.Writer
	every time.Duration
	last  time.Time
}

func (p *plainLines) Write(b []byte) (int, error) {
	frame := strings.TrimSpace(strings.ReplaceAll(string(b), "\r", ""))
	if frame == "" {
		return len(b), nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if now := time.Now(); now.Sub(p.last) >= p.every {
		p.last = now
		if _, err := fmt.Fprintln(p.w, frame); err != nil {
			return 0, err
		}
	}
	return len(b), nil
}
