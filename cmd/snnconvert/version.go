package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/snnconvert/snnconvert/snnrt"
)

func init() {
	rootCmd.AddCommand(&cobra.Command{
		Use:   "version",
		Short: "Print the module version, Go version and SNN semantics version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			mod := "(devel)"
			if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
				mod = bi.Main.Version
			}
			fmt.Fprintf(cmd.OutOrStdout(), "snnconvert %s\ngo %s %s/%s\nsnn semantics v%d\n",
				mod, runtime.Version(), runtime.GOOS, runtime.GOARCH, snnrt.SemanticsVersion)
			return nil
		},
	})
}
