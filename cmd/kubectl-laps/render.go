package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
	"github.com/fleetlaps/fleetlaps/internal/policy"
	"github.com/fleetlaps/fleetlaps/internal/render"
)

type renderOptions struct {
	file, format, outputFile string
}

func newRenderCommand(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	o := &renderOptions{}
	cmd := &cobra.Command{
		Use:   "render -f FILE [-o FORMAT] [--output-file FILE]",
		Short: "Render a LapsPolicy manifest into the document devices read",
		Long: `Render reads one LapsPolicy manifest (YAML or JSON, "-" for stdin), validates it with the
apiserver's admission rules (unknown fields are errors), fills in the Windows LAPS defaults of
unset settings and prints the rendered policy. It reads no cluster.

Output formats (-o): syncml (CSP), intune (settings-catalog JSON), registry-pol (Group Policy Registry.pol),
registry-text (LGPO text form), agent (endpoint agent local configuration). The default follows
spec.policyRoot: CSP -> syncml, GroupPolicy and LegacyLAPS -> registry-pol,
LocalConfiguration -> agent.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.run(stdin, stdout, stderr)
		},
	}
	cmd.Flags().StringVarP(&o.file, "filename", "f", "", `LapsPolicy manifest, "-" for stdin`)
	cmd.Flags().StringVarP(&o.format, "output", "o", "", "output format: "+strings.Join(render.Formats, ", ")+" (default: per policyRoot)")
	cmd.Flags().StringVar(&o.format, "format", "", "same as --output")
	_ = cmd.Flags().MarkDeprecated("format", "use -o/--output")
	cmd.Flags().SetOutput(stderr) // the deprecation notice must not mix into the rendered output
	cmd.Flags().StringVar(&o.outputFile, "output-file", "", "write to this file instead of stdout")
	_ = cmd.MarkFlagRequired("filename")
	return cmd
}

func (o *renderOptions) run(stdin io.Reader, stdout, stderr io.Writer) error {
	if o.format != "" && !slices.Contains(render.Formats, o.format) {
		return fmt.Errorf("--output %q: unsupported, allowed: %s", o.format, strings.Join(render.Formats, ", "))
	}
	var raw []byte
	var err error
	if o.file == "-" {
		raw, err = io.ReadAll(stdin)
	} else {
		raw, err = os.ReadFile(o.file)
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", o.file, err)
	}
	p, err := decodePolicy(raw)
	if err != nil {
		return fmt.Errorf("%s: %w", o.file, err)
	}
	if errs := policy.Validate(&p.Spec); len(errs) > 0 {
		var b strings.Builder
		fmt.Fprintf(&b, "%s: LapsPolicy %q is invalid:", o.file, p.Name)
		for _, e := range errs {
			b.WriteString("\n  " + e.Error())
		}
		return errors.New(b.String())
	}
	for _, ig := range policy.Ignored(&p.Spec) {
		fmt.Fprintf(stderr, "warning: %s\n", ig)
	}
	s := policy.Effective(&p.Spec)
	format := o.format
	if format == "" {
		format = render.DefaultFormats(s.PolicyRoot)[0]
	}
	name := "fleetlaps " + p.Name
	if p.Namespace != "" {
		name = "fleetlaps " + p.Namespace + "/" + p.Name
	}
	data, err := render.Render(format, s, render.WithName(name))
	if err != nil {
		return err
	}
	if o.outputFile != "" {
		return os.WriteFile(o.outputFile, data, 0o644)
	}
	_, err = stdout.Write(data)
	return err
}

// decodePolicy decodes exactly one LapsPolicy, strictly: unknown or duplicate fields are errors.
func decodePolicy(raw []byte) (*lapsv1.LapsPolicy, error) {
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(raw)))
	var doc []byte
	for {
		d, err := reader.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if len(bytes.TrimSpace(d)) == 0 || isComment(d) {
			continue
		}
		if doc != nil {
			return nil, errors.New("more than one document: give one LapsPolicy per file")
		}
		doc = d
	}
	if doc == nil {
		return nil, errors.New("no LapsPolicy manifest found")
	}
	var p lapsv1.LapsPolicy
	if err := yaml.UnmarshalStrict(doc, &p); err != nil {
		return nil, err
	}
	if p.APIVersion != lapsv1.GroupVersion.String() || p.Kind != "LapsPolicy" {
		return nil, fmt.Errorf("apiVersion %q kind %q: want apiVersion %s, kind LapsPolicy", p.APIVersion, p.Kind, lapsv1.GroupVersion.String())
	}
	return &p, nil
}

func isComment(doc []byte) bool {
	for _, line := range strings.Split(string(doc), "\n") {
		if l := strings.TrimSpace(line); l != "" && !strings.HasPrefix(l, "#") {
			return false
		}
	}
	return true
}
