package main

import (
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/snnconvert/snnconvert/eval/batch"
)

var mergeOut string

var mergeCmd = &cobra.Command{
	Use:   "merge SHARD_DIR... [--out DIR]",
	Short: "Combine the output directories of sharded batch runs into one summary",
	Long: `merge reads the plan and entry results of 'snnconvert batch --shard-index I
--shard-count N' output directories and writes to --out exactly what an
unsharded run writes: plan.json, entries/, summary.{md,csv,json,html} and
plots/ (the summaries are byte-identical). The directories must come from the
same manifest and together hold every entry; merge names the missing ones.`,
	Example: `  snnconvert merge shard-0 shard-1 shard-2 --out sweep-out`,
	Args:    cobra.MinimumNArgs(1),
	RunE: func(cmd *cobra.Command, args []string) error {
		plan, err := batch.Merge(args, mergeOut)
		if err != nil {
			return usageError(err)
		}
		out := cmd.OutOrStdout()
		fmt.Fprintf(out, "merged %d directories: %d entries\n", len(args), len(plan.Entries))
		if err := printResultsTable(out, mergeOut); err != nil {
			return usageError(err)
		}
		fmt.Fprintf(out, "summary: %s (.csv .json .html, plots/)\n", filepath.Join(mergeOut, "summary.md"))
		return nil
	},
}

func init() {
	mergeCmd.Flags().StringVar(&mergeOut, "out", "batch-out", "output directory of the merged batch")
	rootCmd.AddCommand(mergeCmd)
}
