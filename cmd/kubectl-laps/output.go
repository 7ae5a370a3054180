package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/printers"
	"sigs.k8s.io/yaml"
)

// Output formats of the cluster commands, with kubectl's meaning of -o.
const (
	outputTable = "table"
	outputYAML  = "yaml"
	outputJSON  = "json"
)

var outputFormats = []string{outputTable, outputYAML, outputJSON}

// addOutputFlag adds -o/--output (table, yaml or json; default table).
func addOutputFlag(cmd *cobra.Command, target *string) {
	cmd.Flags().StringVarP(target, "output", "o", outputTable, "output format: "+strings.Join(outputFormats, ", "))
}

func checkOutput(format string) error {
	for _, f := range outputFormats {
		if f == format {
			return nil
		}
	}
	return fmt.Errorf("--output %q: unsupported, allowed: %s", format, strings.Join(outputFormats, ", "))
}

// printStructured writes v as YAML or JSON (the machine-readable forms of every command).
func printStructured(w io.Writer, format string, v any) error {
	switch format {
	case outputJSON:
		data, err := json.MarshalIndent(v, "", "    ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", data)
		return err
	case outputYAML:
		data, err := yaml.Marshal(v)
		if err != nil {
			return err
		}
		_, err = w.Write(data)
		return err
	}
	return fmt.Errorf("output %q is not a structured format", format)
}

// table writes kubectl-style columns (upper-case headers, aligned with spaces).
type table struct {
	w    io.Writer
	rows [][]string
}

func newTable(w io.Writer, header ...string) *table {
	return &table{w: w, rows: [][]string{header}}
}

func (t *table) add(cells ...string) { t.rows = append(t.rows, cells) }

func (t *table) flush() error {
	tw := printers.GetNewTabWriter(t.w)
	for _, r := range t.rows {
		if _, err := fmt.Fprintln(tw, strings.Join(r, "\t")); err != nil {
			return err
		}
	}
	return tw.Flush()
}

// timestamp prints a time as RFC 3339 in UTC, "<none>" when unset (kubectl's empty cell).
func timestamp(t *metav1.Time) string {
	if t == nil || t.IsZero() {
		return "<none>"
	}
	return t.UTC().Format(time.RFC3339)
}

func orNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}
