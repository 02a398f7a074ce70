package main

import (
	"bytes"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Off a terminal (a CI log) a stage is a start line, a line per interval and
// an end line, never a stream of \r redraws.
func TestProgressOffTerminalIsPlainLines(t *testing.T) {
	tests := []struct {
		name  string
		every time.Duration
		steps int
		sleep time.Duration
		// minLines and maxLines bound the output; the periodic lines depend
		// on timing (the bar redraws at most every 100 ms), so the long-interval
		// case pins the exact count.
		minLines, maxLines int
	}{
		{"short stage", time.Hour, 500, 0, 2, 2},
		{"periodic lines", 20 * time.Millisecond, 10, 40 * time.Millisecond, 3, 12},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			bar := newProgressTo(&b, false, tc.steps, "SNN", tc.every)
			for range tc.steps {
				time.Sleep(tc.sleep)
				if err := bar.Add(1); err != nil {
					t.Fatal(err)
				}
			}
			if err := bar.Finish(); err != nil {
				t.Fatal(err)
			}
			out := b.String()
			if strings.ContainsAny(out, "\r\x1b") {
				t.Fatalf("carriage returns or escapes off a terminal: %q", out)
			}
			lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
			if len(lines) < tc.minLines || len(lines) > tc.maxLines {
				t.Fatalf("%d lines, want %d..%d:\n%s", len(lines), tc.minLines, tc.maxLines, out)
			}
			if lines[0] != "SNN: "+strconv.Itoa(tc.steps)+" to do" || !strings.HasPrefix(lines[len(lines)-1], "SNN: ended after ") {
				t.Errorf("first/last line:\n%s", out)
			}
			for _, l := range lines[1 : len(lines)-1] {
				if !strings.HasPrefix(l, "SNN") || !strings.Contains(l, "/"+strconv.Itoa(tc.steps)+")") {
					t.Errorf("progress line %q lacks the count", l)
				}
			}
		})
	}
}

// On a terminal the bar redraws in place, as progressbar does.
func TestProgressOnTerminalRedraws(t *testing.T) {
	var b bytes.Buffer
	bar := newProgressTo(&b, true, 10, "ANN", time.Hour)
	for range 10 {
		_ = bar.Add(1)
	}
	_ = bar.Finish()
	if !strings.Contains(b.String(), "\r") || strings.Contains(b.String(), "to do\n") {
		t.Errorf("terminal output: %q", b.String())
	}
}
