package main

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/controller-runtime/pkg/client"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
)

// globals are the connection flags every cluster command shares (kubectl's own set) and the
// streams.
type globals struct {
	config  *genericclioptions.ConfigFlags
	streams genericiooptions.IOStreams
	// now is the clock for deadlines; tests keep the real one.
	now func() time.Time
}

func newRootCommand(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	g := &globals{
		config:  genericclioptions.NewConfigFlags(true),
		streams: genericiooptions.IOStreams{In: stdin, Out: stdout, ErrOut: stderr},
		now:     time.Now,
	}
	root := &cobra.Command{
		Use:           "kubectl-laps",
		Short:         "Work with fleetlaps: Windows LAPS state of a device fleet",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	g.config.AddFlags(root.PersistentFlags())
	root.AddCommand(newStatusCommand(g), newExplainCommand(g), newRotateCommand(g), newRenderCommand(stdin, stdout, stderr))
	root.AddCommand(newEnrollCommand(g))
	return root
}

var scheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	if err := lapsv1.AddToScheme(s); err != nil {
		panic(err)
	}
	return s
}()

// client returns a client for the flags' cluster and the namespace to use (-n, else the
// kubeconfig context's, else "default").
func (g *globals) client() (client.Client, string, error) {
	cfg, err := g.config.ToRESTConfig()
	if err != nil {
		return nil, "", err
	}
	ns, _, err := g.config.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return nil, "", err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, "", fmt.Errorf("connecting to the cluster: %w", err)
	}
	return c, ns, nil
}
