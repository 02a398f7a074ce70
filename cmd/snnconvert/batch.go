package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/snnconvert/snnconvert/eval/batch"
	"github.com/snnconvert/snnconvert/eval/ci"
)

// batchOptions are batch's flags.
type batchOptions struct {
	out        string
	jobs       int
	shardIndex int
	shardCount int
}

var batchOpts batchOptions

// jobIndexEnv is what Kubernetes Indexed Jobs set in each pod.
const jobIndexEnv = "JOB_COMPLETION_INDEX"

var batchCmd = &cobra.Command{
	Use:   "batch MANIFEST.yaml",
	Short: "Evaluate models × settings from a YAML manifest (parallel, resumable, shardable)",
	Long: `batch expands a YAML manifest (models × settings; each setting may set norm,
percentile, reset, v_init, encoding, calib, seed, auto, target_t, T and data)
into entries and evaluates them, --jobs at a time. Each finished entry is
stored as OUT/entries/<id>.json, so a rerun skips what is done (the ID hashes
the model file, settings, data and T list). The summary goes to
OUT/summary.{md,csv,json,html} with one accuracy-vs-T plot per model under
OUT/plots/.

--shard-index I --shard-count N runs the entries whose index is I mod N (I
defaults to $JOB_COMPLETION_INDEX, as Kubernetes Indexed Jobs set it) and writes
no summary; 'snnconvert merge' combines the shard directories into the summary
an unsharded run writes.

Unknown manifest keys are errors. Exit codes: 0 all entries evaluated, 2 bad
input (manifest, model files) or an entry whose evaluation failed (its error is
in the summary; a rerun retries it).`,
	Example: `  snnconvert batch sweep.yaml --out sweep-out --jobs 2
  # manifest:
  #   data: mnist:test:1000
  #   T: [8, 16, 32, 64]
  #   models:
  #     - path: models/lenet5.onnx
  #     - {name: mlp, path: models/mlp.onnx}
  #   settings:
  #     - {name: p99.99}
  #     - {name: max, norm: max}
  #     - {name: zero-reset, reset: zero, T: [32, 128]}`,
	Args: cobra.ExactArgs(1),
	RunE: func(cmd *cobra.Command, args []string) error {
		return runBatch(cmd.Context(), cmd.OutOrStdout(), cmd.Flags(), args[0], &batchOpts, ciEvaluator)
	},
}

func init() {
	addBatchFlags(batchCmd.Flags(), &batchOpts)
	rootCmd.AddCommand(batchCmd)
}

func addBatchFlags(f *pflag.FlagSet, o *batchOptions) {
	f.StringVar(&o.out, "out", "batch-out", "output directory (entries/, summaries, plots/)")
	f.IntVar(&o.jobs, "jobs", 1, "entries evaluated at once (each evaluation already uses every core)")
	f.IntVar(&o.shardIndex, "shard-index", 0, "this shard's index (default $"+jobIndexEnv+", else 0)")
	f.IntVar(&o.shardCount, "shard-count", 1, "number of shards")
}

// shardOf reads the shard from the flags, the index falling back to
// $JOB_COMPLETION_INDEX when --shard-index is not given.
func shardOf(flags *pflag.FlagSet, o *batchOptions) (batch.Shard, error) {
	s := batch.Shard{Index: o.shardIndex, Count: o.shardCount}
	if !flags.Changed("shard-index") {
		if env, ok := os.LookupEnv(jobIndexEnv); ok {
			i, err := strconv.Atoi(strings.TrimSpace(env))
			if err != nil {
				return s, fmt.Errorf("$%s=%q: not an integer", jobIndexEnv, env)
			}
			s.Index = i
			if err := s.Validate(); err != nil {
				return s, fmt.Errorf("$%s=%d: %w (set --shard-count to the Job's completions)", jobIndexEnv, i, err)
			}
		}
	}
	return s, s.Validate()
}

func runBatch(ctx context.Context, stdout io.Writer, flags *pflag.FlagSet, manifest string, o *batchOptions, evaluate ci.Evaluator) error {
	shard, err := shardOf(flags, o)
	if err != nil {
		return usageError(fmt.Errorf("batch: %w", err))
	}
	if o.jobs < 1 {
		return usageError(fmt.Errorf("batch: --jobs %d: must be at least 1", o.jobs))
	}
	plan, err := batch.ReadManifest(manifest)
	if err != nil {
		return usageError(err)
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt)
	defer stop()
	desc := "batch"
	if shard.Count > 1 {
		desc = fmt.Sprintf("batch shard %d/%d", shard.Index, shard.Count)
	}
	var bar interface{ Set(int) error }
	st, err := batch.Run(ctx, plan, batch.Options{
		Out: o.out, Jobs: o.jobs, Shard: shard,
		Progress: func(done, total int) {
			if bar == nil {
				bar = newProgress(total, desc)
			}
			_ = bar.Set(done)
		},
	}, evaluate)
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return usageError(fmt.Errorf("batch: interrupted; finished entries are kept in %s, rerun to resume", o.out))
		}
		return usageError(fmt.Errorf("batch: %w", err))
	}
	fmt.Fprintf(stdout, "%d entries: %d evaluated, %d already done, %d failed\n", st.Total, st.Ran, st.Skipped, len(st.Failed))
	if shard.Count > 1 {
		fmt.Fprintf(stdout, "shard %d of %d stored in %s; combine the shards with: snnconvert merge DIR... --out DIR\n", shard.Index, shard.Count, filepath.Join(o.out, "entries"))
	} else {
		if err := printResultsTable(stdout, o.out); err != nil {
			return usageError(err)
		}
		fmt.Fprintf(stdout, "summary: %s (.csv .json .html, plots/)\n", filepath.Join(o.out, "summary.md"))
	}
	if len(st.Failed) > 0 {
		return usageError(fmt.Errorf("batch: %d entries failed (rerun retries them):\n  %s", len(st.Failed), strings.Join(st.Failed, "\n  ")))
	}
	return nil
}

// printResultsTable prints the results section of dir/summary.md, the table a
// user wants to see at the end of a run.
func printResultsTable(w io.Writer, dir string) error {
	md, err := os.ReadFile(filepath.Join(dir, "summary.md"))
	if err != nil {
		return err
	}
	s := string(md)
	if i := strings.Index(s, "## Results\n\n"); i >= 0 {
		s = s[i+len("## Results\n\n"):]
	}
	if i := strings.Index(s, "\n## "); i >= 0 {
		s = s[:i]
	}
	_, err = io.WriteString(w, strings.TrimRight(s, "\n")+"\n")
	return err
}
