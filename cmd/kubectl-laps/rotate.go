package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
)

type rotateOptions struct {
	*globals
	selector string
	reason   string
	deadline string
	wait     bool
	timeout  time.Duration
	interval time.Duration
	output   string
}

func newRotateCommand(g *globals) *cobra.Command {
	o := &rotateOptions{globals: g}
	cmd := &cobra.Command{
		Use:   "rotate DEVICE... | -l SELECTOR [--reason R] [--deadline D] [--wait]",
		Short: "Request a password rotation (creates RotationRequests)",
		Long: `Rotate creates a RotationRequest: one per named device, or one for the devices a label selector
matches (the controller fixes the targets when it starts the request). It never writes to a
directory itself; the controller does, within each policy's rotation limits and maintenance
windows, and records the evidence of each rotation.

With --wait it follows the requests until they finish, printing a line whenever a device changes
state, and exits non-zero unless every device Rotated.`,
		Example: `  kubectl laps rotate -n fleet pc-0042 --reason "helpdesk ticket 4711" --wait
  kubectl laps rotate -n fleet -l site=berlin --reason "admin left" --deadline 4h`,
		RunE: func(cmd *cobra.Command, args []string) error { return o.run(cmd.Context(), args) },
	}
	cmd.Flags().StringVarP(&o.selector, "selector", "l", "", "label selector of the ManagedDevices to rotate")
	cmd.Flags().StringVar(&o.reason, "reason", "", "why the rotation is needed (audit text; default names you and the tool)")
	cmd.Flags().StringVar(&o.deadline, "deadline", "", "fail devices without evidence of rotation after this: a duration (4h) or an RFC 3339 time (default: the controller's, 26h)")
	cmd.Flags().BoolVar(&o.wait, "wait", false, "follow the requests until every device Rotated or Failed")
	cmd.Flags().DurationVar(&o.timeout, "timeout", 0, "with --wait, give up after this long (0: until the requests finish)")
	cmd.Flags().DurationVar(&o.interval, "poll-interval", 2*time.Second, "with --wait, how often to read the requests")
	addOutputFlag(cmd, &o.output)
	return cmd
}

func (o *rotateOptions) run(ctx context.Context, names []string) error {
	if err := checkOutput(o.output); err != nil {
		return err
	}
	if (len(names) == 0) == (o.selector == "") {
		return errors.New("give device names or -l SELECTOR (one of the two)")
	}
	if o.interval <= 0 {
		return fmt.Errorf("--poll-interval %s: must be positive", o.interval)
	}
	var sel *metav1.LabelSelector
	if o.selector != "" {
		var err error
		if sel, err = metav1.ParseToLabelSelector(o.selector); err != nil {
			return fmt.Errorf("--selector %q: %w", o.selector, err)
		}
	}
	var deadline *metav1.Time
	if o.deadline != "" {
		t, err := parseDeadline(o.deadline, o.now())
		if err != nil {
			return err
		}
		deadline = &t
	}
	reason := o.reason
	if reason == "" {
		reason = "requested with kubectl laps rotate"
		if u := os.Getenv("USER"); u != "" {
			reason += " by " + u
		}
	}
	c, ns, err := o.client()
	if err != nil {
		return err
	}
	if ns == "" {
		return errors.New("rotate needs a namespace: use -n NAMESPACE")
	}
	// The named devices must exist: a request for a typo would only fail at its deadline.
	for _, n := range names {
		var d lapsv1.ManagedDevice
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: n}, &d); err != nil {
			return fmt.Errorf("ManagedDevice %q in namespace %q: %w", n, ns, err)
		}
	}
	var requests []*lapsv1.RotationRequest
	newRequest := func(prefix string) *lapsv1.RotationRequest {
		return &lapsv1.RotationRequest{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, GenerateName: prefix},
			Spec:       lapsv1.RotationRequestSpec{Reason: reason, Deadline: deadline},
		}
	}
	for _, n := range names {
		rr := newRequest(n + "-")
		rr.Spec.DeviceName = n
		requests = append(requests, rr)
	}
	if sel != nil {
		rr := newRequest("rotate-")
		rr.Spec.DeviceSelector = sel
		requests = append(requests, rr)
	}
	log := o.streams.Out
	if o.output != outputTable {
		log = o.streams.ErrOut
	}
	for _, rr := range requests {
		if err := c.Create(ctx, rr); err != nil {
			return fmt.Errorf("creating the RotationRequest for %s: %w", target(rr), err)
		}
		fmt.Fprintf(log, "rotationrequest/%s created for %s\n", rr.Name, target(rr))
	}
	var waitErr error
	if o.wait {
		waitErr = o.follow(ctx, c, requests)
	}
	if o.output != outputTable {
		list := &lapsv1.RotationRequestList{}
		list.APIVersion, list.Kind = "v1", "List"
		for _, rr := range requests {
			rr.APIVersion, rr.Kind = lapsv1.GroupVersion.String(), "RotationRequest"
			rr.ManagedFields = nil
			list.Items = append(list.Items, *rr)
		}
		if err := printStructured(o.streams.Out, o.output, list); err != nil {
			return err
		}
	}
	return waitErr
}

func target(rr *lapsv1.RotationRequest) string {
	if rr.Spec.DeviceName != "" {
		return "device " + rr.Spec.DeviceName
	}
	s, _ := metav1.LabelSelectorAsSelector(rr.Spec.DeviceSelector)
	return "devices matching " + s.String()
}

// parseDeadline reads a duration from now or an RFC 3339 time; it must lie in the future.
func parseDeadline(s string, now time.Time) (metav1.Time, error) {
	var t time.Time
	if d, err := time.ParseDuration(s); err == nil {
		t = now.Add(d)
	} else if t, err = time.Parse(time.RFC3339, s); err != nil {
		return metav1.Time{}, fmt.Errorf("--deadline %q: want a duration such as 4h or an RFC 3339 time such as 2026-12-31T18:00:00Z", s)
	}
	if !t.After(now) {
		return metav1.Time{}, fmt.Errorf("--deadline %q: %s is not in the future", s, t.UTC().Format(time.RFC3339))
	}
	return metav1.NewTime(t.UTC().Truncate(time.Second)), nil
}

// follow polls the requests until all are Succeeded or Failed, printing a line per device state
// change, and returns an error naming the devices that did not rotate.
func (o *rotateOptions) follow(ctx context.Context, c client.Client, requests []*lapsv1.RotationRequest) error {
	if o.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.timeout)
		defer cancel()
	}
	log := o.streams.Out
	if o.output != outputTable {
		log = o.streams.ErrOut
	}
	seen := map[string]string{} // request/device -> last printed line
	err := wait.PollUntilContextCancel(ctx, o.interval, true, func(ctx context.Context) (bool, error) {
		done := true
		for _, rr := range requests {
			if err := c.Get(ctx, client.ObjectKeyFromObject(rr), rr); err != nil {
				return false, fmt.Errorf("reading rotationrequest/%s: %w", rr.Name, err)
			}
			for _, r := range rr.Status.Results {
				line := progressLine(r)
				if k := rr.Name + "/" + r.Device; seen[k] != line {
					seen[k] = line
					fmt.Fprintln(log, line)
				}
			}
			if p := rr.Status.Phase; p != lapsv1.RotationSucceeded && p != lapsv1.RotationFailed {
				done = false
			}
		}
		return done, nil
	})
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("gave up waiting after %s: the requests go on; kubectl get rotationrequests shows them", o.timeout)
		}
		return err
	}
	var failed []string
	total, rotated := 0, 0
	for _, rr := range requests {
		for _, r := range rr.Status.Results {
			total++
			if r.State == lapsv1.DeviceRotationRotated {
				rotated++
			} else {
				failed = append(failed, r.Device)
			}
		}
		if len(rr.Status.Results) == 0 {
			failed = append(failed, target(rr)+" (no device)")
		}
	}
	fmt.Fprintf(log, "%d of %d devices rotated\n", rotated, total)
	if len(failed) > 0 {
		return fmt.Errorf("not rotated: %s", strings.Join(failed, ", "))
	}
	return nil
}

func progressLine(r lapsv1.DeviceRotationResult) string {
	line := fmt.Sprintf("%s: %s", r.Device, r.State)
	switch {
	case r.State == lapsv1.DeviceRotationRotated && r.RotatedAt != nil:
		line += " at " + timestamp(r.RotatedAt)
	case r.State == lapsv1.DeviceRotationRequested && r.WrittenAt != nil:
		line += ", directory write accepted at " + timestamp(r.WrittenAt) + ", waiting for the device"
	}
	if r.Attempts > 1 {
		line += fmt.Sprintf(" (%d attempts)", r.Attempts)
	}
	if r.Message != "" {
		line += ": " + r.Message
	}
	return line
}
