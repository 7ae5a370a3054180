package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
	"github.com/fleetlaps/fleetlaps/internal/report"
)

// defaultManagerNamespace is where config/default installs the manager (and its token Secrets).
const defaultManagerNamespace = "fleetlaps-system"

type enrollOptions struct {
	*globals
	managerNamespace string
	rotate, revoke   bool
	tokenFile        string
}

func newEnrollCommand(g *globals) *cobra.Command {
	o := &enrollOptions{globals: g}
	cmd := &cobra.Command{
		Use:   "enroll DEVICE [--rotate | --revoke] [--token-file FILE]",
		Short: "Give a ManagedDevice's endpoint agent its report token (printed once)",
		Long: `Enroll makes a new token with which the endpoint agent of one ManagedDevice reports to the
manager's report API. The token speaks for that device only. It is printed once (or written to
--token-file) and kept nowhere: the manager stores only its SHA-256 hash, in a Secret of the
manager's namespace.

A device that has a token keeps it unless --rotate (the old token stops working at once).
--revoke removes the device's token: its agent's reports are refused from then on.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(cmd.Context(), args[0], g.streams.Out, g.streams.ErrOut)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.managerNamespace, "manager-namespace", defaultManagerNamespace, "namespace of the fleetlaps manager, which holds the token hashes")
	f.BoolVar(&o.rotate, "rotate", false, "replace the device's token")
	f.BoolVar(&o.revoke, "revoke", false, "remove the device's token")
	f.StringVar(&o.tokenFile, "token-file", "", "write the token to this new file (mode 0600) instead of stdout")
	cmd.MarkFlagsMutuallyExclusive("rotate", "revoke")
	cmd.MarkFlagsMutuallyExclusive("revoke", "token-file")
	return cmd
}

// tokenClient is a client that knows Secrets besides the fleetlaps kinds.
func (o *enrollOptions) tokenClient() (client.Client, string, error) {
	cfg, err := o.config.ToRESTConfig()
	if err != nil {
		return nil, "", err
	}
	ns, _, err := o.config.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return nil, "", err
	}
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		return nil, "", err
	}
	if err := lapsv1.AddToScheme(s); err != nil {
		return nil, "", err
	}
	c, err := client.New(cfg, client.Options{Scheme: s})
	if err != nil {
		return nil, "", fmt.Errorf("connecting to the cluster: %w", err)
	}
	return c, ns, nil
}

func (o *enrollOptions) run(ctx context.Context, name string, stdout, stderr io.Writer) error {
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	c, ns, err := o.tokenClient()
	if err != nil {
		return err
	}
	dev := report.DeviceRef{Namespace: ns, Name: name}
	if o.revoke {
		if err := report.Revoke(ctx, c, o.managerNamespace, dev); err != nil {
			return explainTokenError(err, o.managerNamespace)
		}
		fmt.Fprintf(stdout, "token of ManagedDevice %s revoked: its agent's reports are refused\n", dev)
		return nil
	}
	var md lapsv1.ManagedDevice
	if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, &md); err != nil {
		if apierrors.IsNotFound(err) {
			return fmt.Errorf("ManagedDevice %s not found", dev)
		}
		return err
	}
	// Open the token file before the token exists, so a bad path changes nothing.
	var out io.Writer = stdout
	if o.tokenFile != "" {
		f, err := os.OpenFile(o.tokenFile, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return fmt.Errorf("--token-file: %w", err)
		}
		defer func() { _ = f.Close() }()
		out = f
	}
	toks, err := report.Enroll(ctx, c, o.managerNamespace, []report.DeviceRef{dev}, o.rotate)
	if err != nil {
		if o.tokenFile != "" {
			_ = os.Remove(o.tokenFile)
		}
		return explainTokenError(err, o.managerNamespace)
	}
	if _, err := fmt.Fprintln(out, toks[dev]); err != nil {
		return err
	}
	what := "enrolled"
	if o.rotate {
		what = "token rotated; the old token no longer works"
	}
	where := "above: it is shown only this once"
	if o.tokenFile != "" {
		where = "in " + o.tokenFile
	}
	fmt.Fprintf(stderr, "ManagedDevice %s %s. Put the token %s in the agent's tokenFile.\n", dev, what, where)
	return nil
}

func explainTokenError(err error, managerNamespace string) error {
	if apierrors.IsForbidden(err) {
		return fmt.Errorf("%w (enrolling needs get/create/update on Secrets in namespace %s: the report-token-admin Role)", err, managerNamespace)
	}
	return err
}
