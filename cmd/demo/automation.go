package main

import (
	"context"
	"fmt"
	"slices"
	"time"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
	"github.com/fleetlaps/fleetlaps/controllers"
	"github.com/fleetlaps/fleetlaps/internal/dirsync"
)

// Demo automation: RotationRequests created during the run as a ticketing system or an
// operator would, at fixed simulated hours.
const (
	requestByNameAt     = 12 * time.Hour
	requestBySelectorAt = 20 * time.Hour
	annotationAt        = 36 * time.Hour
)

// automationTargets picks the devices: a server by name (a workstation in a tiny fleet), the
// executives' OU by selector, and the third workstation by annotation (the first two carry the
// scripted rollback and 10027 incidents).
func automationTargets(w *world) (byName, annotated string) {
	var ws, srv []string
	for _, d := range w.devices {
		switch d.Tier {
		case "frontline":
			ws = append(ws, deviceObjectName(d.Name))
		case "servers":
			srv = append(srv, deviceObjectName(d.Name))
		}
	}
	switch {
	case len(srv) > 0:
		byName = srv[0]
	case len(ws) > 3:
		byName = ws[3]
	}
	if len(ws) > 2 {
		annotated = ws[2]
	}
	return byName, annotated
}

// scheduleAutomation creates the three requests on the simulated clock.
func (cp *controlPlane) scheduleAutomation(w *world) {
	byName, annotated := automationTargets(w)
	at := func(d time.Duration, what string, f func(ctx context.Context) error) {
		w.con.plan(what, w.simAt(d), "automation: "+what)
		w.after(w.clock.Epoch().Add(d).Sub(w.clock.Now()), func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := f(ctx); err != nil {
				w.con.happened(what, w.simNow(), fmt.Sprintf("automation: %s failed: %v", what, err))
				return
			}
			w.con.happened(what, w.simNow(), "automation: "+what)
		})
	}
	if byName != "" {
		at(requestByNameAt, "RotationRequest rotate-"+byName+" (by name)", func(ctx context.Context) error {
			return cp.createRequest(ctx, &lapsv1.RotationRequest{
				ObjectMeta: metav1.ObjectMeta{Name: "rotate-" + byName, Namespace: demoNamespace},
				Spec:       lapsv1.RotationRequestSpec{DeviceName: byName, Reason: "INC-1001: password read during a remote support session"},
			})
		})
	}
	at(requestBySelectorAt, "RotationRequest rotate-executives (by selector)", func(ctx context.Context) error {
		return cp.createRequest(ctx, &lapsv1.RotationRequest{
			ObjectMeta: metav1.ObjectMeta{Name: "rotate-executives", Namespace: demoNamespace},
			Spec: lapsv1.RotationRequestSpec{
				DeviceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{dirsync.LabelOU: "Executives"}},
				Reason:         "SEC-77: quarterly rotation of the executives' devices",
			},
		})
	})
	if annotated != "" {
		at(annotationAt, "annotated ManagedDevice "+annotated+" with "+lapsv1.AnnotationRotateRequestedAt, func(ctx context.Context) error {
			patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, lapsv1.AnnotationRotateRequestedAt, w.clock.Now().UTC().Format(time.RFC3339))
			d := &lapsv1.ManagedDevice{ObjectMeta: metav1.ObjectMeta{Name: annotated, Namespace: demoNamespace}}
			return cp.client.Patch(ctx, d, client.RawPatch(types.MergePatchType, []byte(patch)))
		})
	}
}

func (cp *controlPlane) createRequest(ctx context.Context, rr *lapsv1.RotationRequest) error {
	if err := cp.client.Create(ctx, rr); err != nil {
		return err
	}
	cp.mu.Lock()
	cp.requests = append(cp.requests, rr.Name)
	cp.mu.Unlock()
	return nil
}

// settleResult is what the closing step found.
type settleResult struct {
	// ExpiredBeforeFinalCycle is how many devices the cluster showed not PasswordCurrent when
	// the simulated time ended (devices waiting for their next hourly cycle).
	ExpiredBeforeFinalCycle int
	FinalCycleRotations     int64
	Wait                    time.Duration
	View                    clusterView
}

// settle closes a headless run at one instant on the stopped clock: every device runs a
// processing cycle (Invoke-LapsPolicyProcessing, as an admin would before an audit), the
// agents report, the manager takes a directory snapshot, and the demo waits until the
// cluster shows every device Ready and PasswordCurrent and every request finished (or a
// timeout: then the summary lists what did not converge).
func (cp *controlPlane) settle(w *world) (*settleResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	r := &settleResult{}
	before, err := readCluster(ctx, cp.client)
	if err != nil {
		return nil, err
	}
	r.ExpiredBeforeFinalCycle = before.Devices - before.Current
	rotations := w.fleet.Stats().Rotations
	for _, d := range w.devices {
		_ = w.fleet.InvokePolicyProcessing(d.Name)
	}
	w.fleet.Tick(w.clock.Now())
	if w.entra != nil {
		w.entra.emu.CheckIn(w.clock.Now())
	}
	r.FinalCycleRotations = w.fleet.Stats().Rotations - rotations
	cp.agents.reportAll(ctx, true)
	time.Sleep(300 * time.Millisecond) // let a sync pass that started before the clock stopped finish
	for _, s := range cp.mgr.comps.Syncers {
		s.SyncOnce(ctx)
	}
	start := time.Now()
	limit := 60*time.Second + time.Duration(len(w.devices))*5*time.Millisecond
	for {
		v, err := readCluster(ctx, cp.client)
		if err != nil {
			return nil, err
		}
		r.View, r.Wait = v, time.Since(start)
		if (v.Devices == w.deviceCount() && v.Ready == v.Devices && v.Current == v.Devices && v.requestsDone()) || time.Since(start) > limit {
			w.con.printf(">> settled in %s: %d devices were past expiry when the time ended; the final cycle rotated %d\n",
				r.Wait.Round(time.Millisecond), r.ExpiredBeforeFinalCycle, r.FinalCycleRotations)
			return r, nil
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// summarize fills the summary's cluster fields from the cluster (ManagedDevices and
// RotationRequests listed from the apiserver) and the manager's counters.
func (cp *controlPlane) summarize(ctx context.Context, s *summary, settled *settleResult) error {
	v, err := readCluster(ctx, cp.client)
	if err != nil {
		return err
	}
	s.Devices = v.Devices
	s.Ready = &v.Ready
	s.DirectoryCurrent = s.PasswordCurrent
	s.PasswordCurrent = v.Current
	s.RotationRequests = &requestCounts{Succeeded: v.count(lapsv1.RotationSucceeded), Failed: v.count(lapsv1.RotationFailed)}
	for name, phase := range v.Requests {
		s.RequestPhases = append(s.RequestPhases, name+"="+string(phase))
	}
	slices.Sort(s.RequestPhases)
	writes := cp.mgr.writes.Load()
	s.APIServerWrites = &writes
	direct, apiWrites, counts := cp.directStatusWrites.Load(), cp.mgr.report.Server.Stats().StatusWrites, cp.agents.counts()
	s.AgentWrites, s.ReportAPIStatusWrites, s.AgentReports = &direct, &apiWrites, &counts
	// Rotations per device: the password versions (msLAPS-CurrentPasswordVersion) each
	// device's status showed during the run; the first backup is the first rotation.
	seen := cp.mgr.rotationsSeen()
	s.RotationsPerDevice = minMax{}
	first := true
	for _, d := range v.Names {
		n := seen[d]
		if first || n < s.RotationsPerDevice.Min {
			s.RotationsPerDevice.Min = n
		}
		if first || n > s.RotationsPerDevice.Max {
			s.RotationsPerDevice.Max = n
		}
		first = false
	}
	s.RotationsAfterFirstBackup = &minMax{Min: max(s.RotationsPerDevice.Min-1, 0), Max: max(s.RotationsPerDevice.Max-1, 0)}
	if settled != nil {
		s.ExpiredBeforeFinalCycle = &settled.ExpiredBeforeFinalCycle
		s.FinalCycleRotations = settled.FinalCycleRotations
		s.SettleSeconds = settled.Wait.Seconds()
	}
	// Convergence is the cluster's: the directory-side problems found by world.summarize are
	// replaced by the cluster's view.
	s.Problems = nil
	if v.Ready != v.Devices || v.Current != v.Devices {
		s.Problems = append(s.Problems, fmt.Sprintf("%d of %d devices not Ready and PasswordCurrent: %v", len(v.NotReady), v.Devices, head(v.NotReady, 20)))
	}
	if s.RotationRequests.Failed > 0 || !v.requestsDone() {
		s.Problems = append(s.Problems, fmt.Sprintf("RotationRequests not all succeeded: %v", s.RequestPhases))
	}
	cp.mu.Lock()
	for _, name := range cp.requests {
		if _, ok := v.Requests[name]; !ok {
			s.Problems = append(s.Problems, "RotationRequest "+name+" is missing")
		}
	}
	cp.mu.Unlock()
	s.Problems = append(s.Problems, cp.agents.problems(ctx, cp.client, counts)...)
	s.Converged = len(s.Problems) == 0
	return nil
}

func head(s []string, n int) []string {
	if len(s) > n {
		return append(s[:n:n], fmt.Sprintf("... %d more", len(s)-n))
	}
	return s
}

// progress is the live line: devices Ready, expired, rotating, rotations done, requests, time.
func (cp *controlPlane) progress(ctx context.Context, w *world) string {
	var list lapsv1.ManagedDeviceList
	ready, expired, rotating := 0, 0, 0
	if err := cp.mgr.reader.List(ctx, &list, client.InNamespace(demoNamespace)); err == nil {
		for _, d := range list.Items {
			if apimeta.IsStatusConditionTrue(d.Status.Conditions, lapsv1.ConditionReady) {
				ready++
			}
			if c := apimeta.FindStatusCondition(d.Status.Conditions, lapsv1.ConditionPasswordCurrent); c != nil && c.Status == metav1.ConditionFalse &&
				(c.Reason == controllers.ReasonExpired || c.Reason == controllers.ReasonRotationFailing || c.Reason == controllers.ReasonExpirationProtection) {
				expired++
			}
			if apimeta.IsStatusConditionTrue(d.Status.Conditions, lapsv1.ConditionRotating) {
				rotating++
			}
		}
	}
	var rrs lapsv1.RotationRequestList
	done, total := 0, 0
	if err := cp.mgr.reader.List(ctx, &rrs, client.InNamespace(demoNamespace)); err == nil {
		for _, r := range rrs.Items {
			total++
			if r.Status.Phase == lapsv1.RotationSucceeded {
				done++
			}
		}
	}
	fs := w.fleet.Stats()
	return fmt.Sprintf("sim %s (+%s) | devices %d | ready %d | expired %d | rotating %d | rotations done %d | requests %d/%d succeeded | apiserver writes %d | ldap round trips %d",
		w.simNow(), w.clock.Since(w.clock.Epoch()).Truncate(time.Minute), len(list.Items), ready, expired, rotating, fs.Rotations,
		done, total, cp.mgr.writes.Load(), w.dir.Stats().ControllerRoundTrips)
}
