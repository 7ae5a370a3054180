package main

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"

	"github.com/fleetlaps/fleetlaps/internal/agent"
	"github.com/fleetlaps/fleetlaps/internal/policy"
	"github.com/fleetlaps/fleetlaps/internal/render"
	"github.com/fleetlaps/fleetlaps/internal/report"
	"github.com/fleetlaps/fleetlaps/internal/simclock"
)

// reportNamespace is the demo manager's namespace: it holds the agents' token hashes.
const reportNamespace = "fleetlaps-system"

// agentFleet plays the endpoint agents: one fleetlaps agent per simulated device, enrolled
// with its own token, reporting its fleetsim state over HTTPS through the manager's report API
// (the same client code as cmd/fleetlaps-agent --simulate). The agents hold no Kubernetes
// credentials at all.
type agentFleet struct {
	clock  *simclock.Scaled
	agents map[string]*demoAgent // by computer name
	order  []string

	accepted, rejected, failed atomic.Int64
	mu                         sync.Mutex
	rejectedBy                 map[string]int64 // reason -> count
}

// demoAgent is one device's agent; an agent sends one report at a time.
type demoAgent struct {
	mu sync.Mutex
	a  *agent.Agent
}

// agentCounts is the summary's agentReports.
type agentCounts struct {
	Accepted int64 `json:"accepted"`
	Rejected int64 `json:"rejected"`
	// Failed reports never reached a decision (the manager was stopping).
	Failed     int64            `json:"failed,omitempty"`
	RejectedBy map[string]int64 `json:"rejectedBy,omitempty"`
}

// startAgents enrolls every device (one token each, kept in memory only), waits until the
// report API's token cache holds them, and builds the agents.
func startAgents(ctx context.Context, c client.Client, m *manager, w *world) (*agentFleet, error) {
	devs := make([]report.DeviceRef, 0, len(w.devices))
	for _, d := range w.devices {
		devs = append(devs, report.DeviceRef{Namespace: demoNamespace, Name: deviceObjectName(d.Name)})
	}
	// The Entra devices run the same agent; it reports what Windows LAPS applied from Intune.
	var entraRefs []report.DeviceRef
	var entraSources []agent.Source
	var entraNames []string
	if w.entra != nil {
		var err error
		if entraRefs, entraSources, entraNames, err = w.entra.entraAgents(ctx, m.reader); err != nil {
			return nil, err
		}
		devs = append(devs, entraRefs...)
	}
	select {
	case <-m.report.Ready:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	tokens, err := report.Enroll(ctx, c, reportNamespace, devs, false)
	if err != nil {
		return nil, fmt.Errorf("enrolling the agents: %w", err)
	}
	if err := waitTokensCached(ctx, m.report.Server.Tokens, len(devs)); err != nil {
		return nil, err
	}
	base, err := report.NewClient("https://"+m.report.BoundAddr().String(), m.reportCA, "")
	if err != nil {
		return nil, err
	}
	applied := map[string][]render.RegistryValue{}
	for _, t := range w.tiers {
		applied[t.Name] = render.RegistryValues(policy.Effective(&tierPolicy(t).Spec))
	}
	f := &agentFleet{clock: w.clock, agents: map[string]*demoAgent{}, rejectedBy: map[string]int64{}}
	for i, d := range w.devices {
		cl := *base
		cl.Token = tokens[devs[i]]
		f.agents[d.Name] = &demoAgent{a: &agent.Agent{
			Device: devs[i], Client: &cl, Clock: w.clock, Interval: agentHeartbeat,
			Source: &agent.Simulated{Fleet: w.fleet, Computer: d.Name, Applied: applied[d.Tier]},
		}}
		f.order = append(f.order, d.Name)
	}
	for i, ref := range entraRefs {
		cl := *base
		cl.Token = tokens[ref]
		f.agents[entraNames[i]] = &demoAgent{a: &agent.Agent{Device: ref, Client: &cl, Clock: w.clock, Interval: agentHeartbeat, Source: entraSources[i]}}
		f.order = append(f.order, entraNames[i])
	}
	fmt.Printf(">> enrolled %d endpoint agents; they report to https://%s (token hashes in %d Secrets of namespace %s)\n",
		len(devs), m.report.BoundAddr(), min(len(devs), report.TokenBuckets), reportNamespace)
	return f, nil
}

// waitTokensCached waits until the report API's Secret cache holds n token hashes.
func waitTokensCached(ctx context.Context, tokens client.Reader, n int) error {
	deadline := time.Now().Add(time.Minute)
	for {
		var list corev1.SecretList
		err := tokens.List(ctx, &list, client.InNamespace(reportNamespace), client.MatchingLabelsSelector{Selector: labels.SelectorFromSet(labels.Set{report.LabelTokens: "true"})})
		have := 0
		for _, s := range list.Items {
			have += len(s.Data)
		}
		if err == nil && have >= n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the report API's token cache holds %d of %d tokens after a minute (%v)", have, n, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// reportAll lets every agent report what changed or a due heartbeat (all when force), a few at
// a time.
func (f *agentFleet) reportAll(ctx context.Context, force bool) {
	const workers = 8
	var wg sync.WaitGroup
	next := atomic.Int64{}
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(f.order) || ctx.Err() != nil {
					return
				}
				f.report(ctx, f.order[i], force)
			}
		}()
	}
	wg.Wait()
}

// reportDevice lets one device's agent report at once (it reports after a reboot).
func (f *agentFleet) reportDevice(ctx context.Context, computer string) {
	if _, ok := f.agents[computer]; ok {
		f.report(ctx, computer, true)
	}
}

func (f *agentFleet) report(ctx context.Context, computer string, force bool) {
	da := f.agents[computer]
	da.mu.Lock()
	sent, _, err := da.a.Report(ctx, force)
	da.mu.Unlock()
	var ref *report.Refused
	switch {
	case !sent && err == nil:
	case err == nil:
		f.accepted.Add(1)
	case errors.As(err, &ref):
		f.rejected.Add(1)
		f.mu.Lock()
		f.rejectedBy[ref.Reason]++
		f.mu.Unlock()
	case ctx.Err() != nil:
		// The run is ending: the report was cut off, not decided.
	default:
		if f.failed.Add(1) == 1 {
			fmt.Printf(">> an agent report failed (counted in agentReports.failed): %v\n", err)
		}
	}
}

// counts is the summary's agentReports.
func (f *agentFleet) counts() agentCounts {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := agentCounts{Accepted: f.accepted.Load(), Rejected: f.rejected.Load(), Failed: f.failed.Load()}
	if len(f.rejectedBy) > 0 {
		c.RejectedBy = map[string]int64{}
		for k, v := range f.rejectedBy {
			c.RejectedBy[k] = v
		}
	}
	return c
}

// rejections lists the refusal reasons for the summary's problems.
func (c agentCounts) rejections() string {
	var parts []string
	for k, v := range c.RejectedBy {
		parts = append(parts, fmt.Sprintf("%s %d", k, v))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

// problems says what the agents' reports show wrong: a report refused, a device whose status
// shows no agent report.
func (f *agentFleet) problems(ctx context.Context, c client.Reader, counts agentCounts) []string {
	var out []string
	if counts.Rejected > 0 {
		out = append(out, fmt.Sprintf("the report API refused %d agent reports: %s", counts.Rejected, counts.rejections()))
	}
	var list lapsv1.ManagedDeviceList
	if err := c.List(ctx, &list, client.InNamespace(demoNamespace)); err != nil {
		return append(out, "listing ManagedDevices: "+err.Error())
	}
	var silent []string
	for _, d := range list.Items {
		if d.Status.Agent == nil || d.Status.Agent.LastReportTime == nil {
			silent = append(silent, d.Name)
		}
	}
	if len(silent) > 0 {
		out = append(out, fmt.Sprintf("%d devices show no agent report: %v", len(silent), head(silent, 20)))
	}
	return out
}

// run reports every `every` of simulated time until ctx ends.
func (f *agentFleet) run(ctx context.Context, every time.Duration) {
	t := f.clock.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
			f.reportAll(ctx, false)
		}
	}
}

// countStatusWrites counts the ManagedDevice status writes made through c.
func countStatusWrites(c client.WithWatch, n *atomic.Int64) client.Client {
	count := func(sub string, obj client.Object) {
		if _, ok := obj.(*lapsv1.ManagedDevice); ok && sub == "status" {
			n.Add(1)
		}
	}
	return interceptor.NewClient(c, interceptor.Funcs{
		SubResourceUpdate: func(ctx context.Context, c client.Client, sub string, obj client.Object, opts ...client.SubResourceUpdateOption) error {
			count(sub, obj)
			return c.SubResource(sub).Update(ctx, obj, opts...)
		},
		SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
			count(sub, obj)
			return c.SubResource(sub).Patch(ctx, obj, patch, opts...)
		},
	})
}
