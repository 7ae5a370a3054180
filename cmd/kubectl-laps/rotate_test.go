package main

import (
	"context"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
)

// actAsController plays the RotationRequest controller for the requests in ns until ctx ends:
// a new request is expanded (by name or selector) with every device Requested and written;
// on the next pass each device Rotated, except those in fail, which Failed.
func actAsController(ctx context.Context, t *testing.T, c client.Client, ns string, fail map[string]bool) {
	for ctx.Err() == nil {
		var list lapsv1.RotationRequestList
		if err := c.List(ctx, &list, client.InNamespace(ns)); err != nil {
			return
		}
		for i := range list.Items {
			rr := &list.Items[i]
			switch rr.Status.Phase {
			case "":
				names := []string{rr.Spec.DeviceName}
				if rr.Spec.DeviceSelector != nil {
					names = nil
					var devices lapsv1.ManagedDeviceList
					if err := c.List(ctx, &devices, client.InNamespace(ns), client.MatchingLabels(rr.Spec.DeviceSelector.MatchLabels)); err != nil {
						return
					}
					for _, d := range devices.Items {
						names = append(names, d.Name)
					}
				}
				rr.Status.Phase, rr.Status.StartTime, rr.Status.Targets = lapsv1.RotationInProgress, at(0), int32(len(names))
				for _, n := range names {
					rr.Status.Results = append(rr.Status.Results, lapsv1.DeviceRotationResult{Device: n, State: lapsv1.DeviceRotationRequested, RequestedAt: at(0), WrittenAt: at(time.Second), Attempts: 1})
				}
			case lapsv1.RotationInProgress:
				rr.Status.Phase = lapsv1.RotationSucceeded
				for j := range rr.Status.Results {
					r := &rr.Status.Results[j]
					if fail[r.Device] {
						r.State, r.Message, r.Attempts = lapsv1.DeviceRotationFailed, "no evidence of rotation before the deadline", 3
						rr.Status.Phase = lapsv1.RotationFailed
					} else {
						r.State, r.RotatedAt = lapsv1.DeviceRotationRotated, at(20*time.Minute)
					}
				}
			default:
				continue
			}
			if err := c.Status().Update(ctx, rr); err != nil && ctx.Err() == nil {
				t.Logf("fake controller: %v", err)
			}
		}
		time.Sleep(30 * time.Millisecond)
	}
}

// generated hides the random suffix of generated names.
var generated = regexp.MustCompile(`(rotationrequest/[a-z0-9.-]+-)[a-z0-9]{5}\b`)

// requestedLine is the progress line of a device whose rotation was written and awaits evidence.
var requestedLine = regexp.MustCompile(`^pc-\d\d: Requested, directory write accepted at 2026-12-01T10:00:01Z, waiting for the device$`)

// stableProgress makes --wait output comparable: the fake controller may run ahead of the
// polling, so intermediate Requested lines may or may not appear (each that does must be
// well-formed) and devices may finish in either order; the final line of each device and the
// totals are fixed.
func stableProgress(t *testing.T, out string) string {
	t.Helper()
	var head, states, tail []string
	for _, l := range strings.Split(strings.TrimRight(generated.ReplaceAllString(out, "${1}xxxxx"), "\n"), "\n") {
		switch {
		case strings.HasPrefix(l, "rotationrequest/"):
			head = append(head, l)
		case strings.Contains(l, ": Requested"):
			if !requestedLine.MatchString(l) {
				t.Errorf("malformed progress line %q", l)
			}
		case strings.HasPrefix(l, "pc-"):
			states = append(states, l)
		default:
			tail = append(tail, l)
		}
	}
	slices.Sort(states)
	return strings.Join(slices.Concat(head, states, tail), "\n") + "\n"
}

func TestRotate(t *testing.T) {
	c := cluster(t)
	const ns = "rotate"
	createNamespace(t, c, ns)
	for _, n := range []string{"pc-01", "pc-02", "pc-03"} {
		createWithStatus(t, c, newDevice(ns, n, map[string]string{"site": map[string]string{"pc-01": "berlin", "pc-02": "berlin", "pc-03": "paris"}[n]}), nil)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go actAsController(ctx, t, c, ns, map[string]bool{"pc-02": true})

	t.Run("should follow every device to Rotated and exit 0", func(t *testing.T) {
		code, out, errOut := laps(t, "rotate", "-n", ns, "pc-01", "pc-03", "--reason", "helpdesk ticket 4711", "--wait", "--poll-interval", "20ms")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		golden(t, "rotate-wait-rotated.txt", stableProgress(t, out))
	})
	t.Run("should exit non-zero naming the devices that did not rotate", func(t *testing.T) {
		code, out, errOut := laps(t, "rotate", "-n", ns, "-l", "site=berlin", "--reason", "admin left", "--wait", "--poll-interval", "20ms")
		if code != 1 || errOut != "error: not rotated: pc-02\n" {
			t.Fatalf("exit %d stderr %q", code, errOut)
		}
		golden(t, "rotate-wait-failed.txt", stableProgress(t, out))
	})
	t.Run("should create a request by selector with reason and deadline and print it as YAML", func(t *testing.T) {
		before := time.Now()
		code, out, errOut := laps(t, "rotate", "-n", ns, "-l", "site=paris", "--reason", "audit", "--deadline", "2h", "-o", "yaml")
		if code != 0 || !strings.Contains(errOut, "created for devices matching site=paris") {
			t.Fatalf("exit %d stderr %q", code, errOut)
		}
		var list lapsv1.RotationRequestList
		if err := c.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		var rr *lapsv1.RotationRequest
		for i := range list.Items {
			if list.Items[i].Spec.Reason == "audit" {
				rr = &list.Items[i]
			}
		}
		if rr == nil || rr.Spec.DeviceSelector == nil || rr.Spec.DeviceSelector.MatchLabels["site"] != "paris" || rr.Spec.DeviceName != "" {
			t.Fatalf("request not created as asked: %+v", rr)
		}
		if d := rr.Spec.Deadline; d == nil || d.Time.Before(before.Add(2*time.Hour).Add(-time.Second)) || d.Time.After(time.Now().Add(2*time.Hour)) {
			t.Errorf("deadline %v, want about 2h from now", d)
		}
		if !strings.Contains(out, "kind: RotationRequest") || !strings.Contains(out, "name: "+rr.Name) {
			t.Errorf("YAML output lacks the request:\n%s", out)
		}
	})
	countRequests := func() int {
		var list lapsv1.RotationRequestList
		if err := c.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		return len(list.Items)
	}
	for _, tc := range []struct {
		name   string
		args   []string
		stderr string
	}{
		{"should refuse names and a selector together", []string{"pc-01", "-l", "site=berlin"}, "error: give device names or -l SELECTOR (one of the two)\n"},
		{"should refuse neither names nor selector", nil, "error: give device names or -l SELECTOR (one of the two)\n"},
		{"should refuse a device that does not exist, creating nothing", []string{"pc-01", "pc-99"}, `error: ManagedDevice "pc-99" in namespace "rotate": `},
		{"should refuse a deadline it cannot read", []string{"pc-01", "--deadline", "tomorrow"}, `error: --deadline "tomorrow": want a duration such as 4h or an RFC 3339 time`},
		{"should refuse a deadline in the past", []string{"pc-01", "--deadline", "2020-01-01T00:00:00Z"}, `error: --deadline "2020-01-01T00:00:00Z": 2020-01-01T00:00:00Z is not in the future`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := countRequests()
			code, out, errOut := laps(t, append([]string{"rotate", "-n", ns}, tc.args...)...)
			if code != 1 || out != "" || !strings.HasPrefix(errOut, tc.stderr) {
				t.Errorf("exit %d stdout %q stderr %q, want prefix %q", code, out, errOut, tc.stderr)
			}
			if got := countRequests(); got != n {
				t.Errorf("%d RotationRequests created", got-n)
			}
		})
	}
}

func TestParseDeadline(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	for in, want := range map[string]string{
		"90m":                       "2026-12-01T11:30:00Z",
		"2026-12-02T08:00:00Z":      "2026-12-02T08:00:00Z",
		"2026-12-02T09:00:00+01:00": "2026-12-02T08:00:00Z",
	} {
		got, err := parseDeadline(in, now)
		if err != nil || got.UTC().Format(time.RFC3339) != want {
			t.Errorf("parseDeadline(%q) = %v, %v; want %s", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-1h", "0s", "yesterday", "2026-12-01T10:00:00Z"} {
		if _, err := parseDeadline(in, now); err == nil {
			t.Errorf("parseDeadline(%q) accepted", in)
		}
	}
}
