package report

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
	"github.com/fleetlaps/fleetlaps/internal/testenv"
)

// One envtest control plane for the package; every test gets its own namespace, server and
// HTTPS listener.
var (
	k8s        client.WithWatch
	restConfig *rest.Config
	scheme     = runtime.NewScheme()
)

const managerNS = "fleetlaps-system"

func TestMain(m *testing.M) {
	if testenv.FuzzingOnly() {
		os.Exit(m.Run()) // FuzzDecode needs no control plane
	}
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	_ = clientgoscheme.AddToScheme(scheme)
	_ = lapsv1.AddToScheme(scheme)
	ctrllog.SetLogger(logr.Discard())
	cfg, stop, err := testenv.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = stop() }()
	restConfig = cfg
	if k8s, err = client.NewWithWatch(cfg, client.Options{Scheme: scheme}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := k8s.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: managerNS}}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// harness is one report API over HTTPS against envtest, with the apiserver writes it makes
// counted, and a fake clock.
type harness struct {
	t      *testing.T
	ns     string
	clock  *clocktesting.FakeClock
	server *Server
	url    string
	ca     []byte
	writes atomic.Int64
}

func newHarness(t *testing.T, devices ...string) *harness {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	h := &harness{t: t, ns: strings.ToLower(strings.NewReplacer("_", "-", "/", "-").Replace(t.Name())), clock: clocktesting.NewFakeClock(testTime)}
	if len(h.ns) > 50 {
		h.ns = h.ns[:50]
	}
	h.ns = strings.TrimRight(h.ns, "-")
	if err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: h.ns}}); err != nil {
		t.Fatal(err)
	}
	for _, d := range devices {
		md := &lapsv1.ManagedDevice{ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: d}, Spec: lapsv1.ManagedDeviceSpec{
			Identity:     lapsv1.DeviceIdentity{ActiveDirectory: &lapsv1.ActiveDirectoryIdentity{DistinguishedName: "CN=" + d + ",DC=corp"}},
			DirectoryRef: lapsv1.DirectoryReference{Name: "corp"},
		}}
		if err := k8s.Create(ctx, md); err != nil {
			t.Fatal(err)
		}
	}
	counting := interceptor.NewClient(k8s, interceptor.Funcs{
		SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
			h.writes.Add(1)
			return c.SubResource(sub).Patch(ctx, obj, patch, opts...)
		},
	})
	dir := t.TempDir()
	ca, err := WriteSelfSigned(dir, []string{"127.0.0.1"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	h.ca = ca
	h.server = &Server{Client: counting, Tokens: k8s, ManagerNamespace: managerNS, Clock: h.clock, Heartbeat: time.Hour}
	l := &Listener{Addr: "127.0.0.1:0", CertDir: dir, Server: h.server, Ready: make(chan struct{})}
	done := make(chan error, 1)
	go func() { done <- l.Start(ctx) }()
	select {
	case <-l.Ready:
	case err := <-done:
		t.Fatal(err)
	}
	h.url = "https://" + l.BoundAddr().String()
	t.Cleanup(func() { cancel(); <-done })
	return h
}

func (h *harness) enroll(device string) string {
	h.t.Helper()
	d := DeviceRef{Namespace: h.ns, Name: device}
	toks, err := Enroll(context.Background(), k8s, managerNS, []DeviceRef{d}, false)
	if err != nil {
		h.t.Fatal(err)
	}
	return toks[d]
}

func (h *harness) client(token string) *Client {
	h.t.Helper()
	c, err := NewClient(h.url, h.ca, token)
	if err != nil {
		h.t.Fatal(err)
	}
	return c
}

func (h *harness) report(device string, seq int64) Report {
	r := validReport()
	r.Device = DeviceRef{Namespace: h.ns, Name: device}
	r.Sequence = seq
	r.AgentTime = h.clock.Now()
	return r
}

func (h *harness) device(name string) *lapsv1.ManagedDevice {
	h.t.Helper()
	var md lapsv1.ManagedDevice
	if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: h.ns, Name: name}, &md); err != nil {
		h.t.Fatal(err)
	}
	return &md
}

// wantRefused checks the error is a refusal with that code and reason.
func wantRefused(t *testing.T, err error, code int, reason string) {
	t.Helper()
	var ref *Refused
	if !errors.As(err, &ref) {
		t.Fatalf("err = %v, want a refusal %d %s", err, code, reason)
	}
	if ref.Code != code || ref.Reason != reason || ref.Message == "" {
		t.Fatalf("refused %d %s (%s), want %d %s with a message", ref.Code, ref.Reason, ref.Message, code, reason)
	}
}

func TestServer_happyPath(t *testing.T) {
	h := newHarness(t, "ws-1")
	tok := h.enroll("ws-1")
	rep := h.report("ws-1", 1)
	rep.Events = append(rep.Events, Event{ID: 10027, Time: testTime, ResultCode: 0x80070005, Message: "could not set k7Fq2ZpX9mWr4T on WLapsAdmin7"})
	resp, err := h.client(tok).Send(context.Background(), rep)
	if err != nil {
		t.Fatal(err)
	}
	if !resp.Written || resp.Reason != ReasonAccepted || resp.HeartbeatSeconds != 3600 {
		t.Errorf("response %+v", resp)
	}
	a := h.device("ws-1").Status.Agent
	if a == nil || a.OSBuild != "10.0.26100.2033" || a.LastSequence != 1 || a.AppliedPolicyHash != rep.AppliedPolicyHash ||
		a.LastReportTime == nil || !a.LastReportTime.Time.Equal(testTime) || len(a.RecentEvents) != 2 || a.RecentEvents[1].ResultCode != 0x80070005 {
		t.Fatalf("status.agent = %+v", a)
	}
	if msg := a.RecentEvents[1].Message; msg != "could not set [redacted] on WLapsAdmin7" {
		t.Errorf("message in status = %q", msg)
	}
	if h.writes.Load() != 1 {
		t.Errorf("%d writes, want 1", h.writes.Load())
	}
}

func TestServer_otherDevicesTokenIsForbidden(t *testing.T) {
	h := newHarness(t, "ws-1", "ws-2")
	tok1 := h.enroll("ws-1")
	h.enroll("ws-2")
	before := h.device("ws-2").ResourceVersion
	_, err := h.client(tok1).Send(context.Background(), h.report("ws-2", 1))
	wantRefused(t, err, http.StatusForbidden, ReasonWrongDevice)
	if after := h.device("ws-2"); after.ResourceVersion != before || after.Status.Agent != nil || h.writes.Load() != 0 {
		t.Errorf("ws-2 changed (resourceVersion %s -> %s, %d writes)", before, after.ResourceVersion, h.writes.Load())
	}
}

func TestServer_replayIsConflict(t *testing.T) {
	h := newHarness(t, "ws-1")
	c := h.client(h.enroll("ws-1"))
	rep := h.report("ws-1", 5)
	if _, err := c.Send(context.Background(), rep); err != nil {
		t.Fatal(err)
	}
	rv := h.device("ws-1").ResourceVersion
	for _, seq := range []int64{5, 4} {
		r := rep
		r.Sequence = seq
		r.OSBuild = "10.0.26100.9999" // a change that would be written
		_, err := c.Send(context.Background(), r)
		wantRefused(t, err, http.StatusConflict, ReasonReplay)
	}
	if h.device("ws-1").ResourceVersion != rv || h.writes.Load() != 1 {
		t.Errorf("a replay was written (%d writes)", h.writes.Load())
	}
}

func TestServer_badBodiesWriteNothing(t *testing.T) {
	h := newHarness(t, "ws-1")
	tok := h.enroll("ws-1")
	h.server.Burst = 1000
	h.server.RatePerMinute = 60000
	h.server.Init()
	post := func(contentType, auth, body string) (int, Response) {
		req, _ := http.NewRequest(http.MethodPost, h.url+Path, strings.NewReader(body))
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := h.client(tok).HTTP.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = resp.Body.Close() }()
		var out Response
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	withDevice := func(body string) string {
		return strings.ReplaceAll(body, `"name":"ws-0001","namespace":"fleet"`, fmt.Sprintf(`"name":"ws-1","namespace":%q`, h.ns))
	}
	for _, c := range badBodies(t) {
		t.Run(c.name, func(t *testing.T) {
			code, resp := post("application/json", "Bearer "+tok, withDevice(c.body))
			if code < 400 || code > 499 || resp.Reason == "" || resp.Message == "" {
				t.Errorf("HTTP %d %+v, want a 4xx with reason and message", code, resp)
			}
		})
	}
	good := withDevice(mutate(t, func(m map[string]any) { m["agentTime"] = h.clock.Now() }))
	for _, c := range []struct {
		name, contentType, auth, body string
		code                          int
		reason                        string
	}{
		{"no token", "application/json", "", good, 401, ReasonUnauthenticated},
		{"not a token", "application/json", "Bearer hunter2", good, 401, ReasonUnauthenticated},
		{"forged token", "application/json", "Bearer " + tok[:len(tok)-4] + "AAAA", good, 401, ReasonTokenNotEnrolled},
		{"text body", "text/plain", "Bearer " + tok, good, 415, ReasonUnsupportedMedia},
		{"clock skew", "application/json", "Bearer " + tok, withDevice(mutate(t, func(m map[string]any) { m["agentTime"] = h.clock.Now().Add(time.Hour) })), 400, ReasonClockSkew},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, resp := post(c.contentType, c.auth, c.body)
			if code != c.code || resp.Reason != c.reason || resp.Message == "" {
				t.Errorf("HTTP %d %+v, want %d %s", code, resp, c.code, c.reason)
			}
		})
	}
	if a := h.device("ws-1").Status.Agent; a != nil || h.writes.Load() != 0 {
		t.Errorf("a refused report was written: %+v (%d writes)", a, h.writes.Load())
	}
}

func TestServer_heartbeatInsideIntervalWritesNothing(t *testing.T) {
	h := newHarness(t, "ws-1")
	c := h.client(h.enroll("ws-1"))
	send := func(seq int64) Response {
		resp, err := c.Send(context.Background(), h.report("ws-1", seq))
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	if !send(1).Written {
		t.Fatal("the first report was not written")
	}
	for i := int64(2); i <= 12; i++ {
		h.clock.Step(5 * time.Minute) // 55 minutes of heartbeats inside the 1h interval
		if send(i).Written {
			t.Fatalf("heartbeat %d was written", i)
		}
	}
	if h.writes.Load() != 1 {
		t.Fatalf("%d writes for one report and 11 heartbeats, want 1", h.writes.Load())
	}
	h.clock.Step(5 * time.Minute)
	if !send(13).Written {
		t.Fatal("the heartbeat after the interval was not written")
	}
	if a := h.device("ws-1").Status.Agent; !a.LastReportTime.Time.Equal(testTime.Add(time.Hour)) || a.LastSequence != 13 {
		t.Errorf("lastReportTime %s sequence %d", a.LastReportTime, a.LastSequence)
	}
	// A change is written at once.
	h.clock.Step(time.Minute)
	r := h.report("ws-1", 14)
	r.BootMode = "SafeMode"
	if resp, err := c.Send(context.Background(), r); err != nil || !resp.Written {
		t.Fatalf("a changed report: %+v %v", resp, err)
	}
}

func TestServer_revokedTokenIsRefused(t *testing.T) {
	h := newHarness(t, "ws-1")
	tok := h.enroll("ws-1")
	c := h.client(tok)
	if _, err := c.Send(context.Background(), h.report("ws-1", 1)); err != nil {
		t.Fatal(err)
	}
	d := DeviceRef{Namespace: h.ns, Name: "ws-1"}
	if err := Revoke(context.Background(), k8s, managerNS, d); err != nil {
		t.Fatal(err)
	}
	rv := h.device("ws-1").ResourceVersion
	_, err := c.Send(context.Background(), h.report("ws-1", 2))
	wantRefused(t, err, http.StatusUnauthorized, ReasonTokenNotEnrolled)
	if h.device("ws-1").ResourceVersion != rv {
		t.Error("a revoked token's report was written")
	}
	// Enrolling again without --rotate works after a revoke; a second enroll needs rotate.
	tok2 := h.enroll("ws-1")
	if _, err := Enroll(context.Background(), k8s, managerNS, []DeviceRef{d}, false); !errors.Is(err, ErrAlreadyEnrolled) {
		t.Errorf("second enroll: %v, want ErrAlreadyEnrolled", err)
	}
	if _, err := h.client(tok2).Send(context.Background(), h.report("ws-1", 3)); err != nil {
		t.Fatal(err)
	}
	rotated, err := Enroll(context.Background(), k8s, managerNS, []DeviceRef{d}, true)
	if err != nil {
		t.Fatal(err)
	}
	_, err = h.client(tok2).Send(context.Background(), h.report("ws-1", 4))
	wantRefused(t, err, http.StatusUnauthorized, ReasonTokenNotEnrolled)
	if _, err := h.client(rotated[d]).Send(context.Background(), h.report("ws-1", 5)); err != nil {
		t.Fatal(err)
	}
}

func TestServer_rateLimit(t *testing.T) {
	h := newHarness(t, "ws-1")
	c := h.client(h.enroll("ws-1"))
	var err error
	for seq := int64(1); seq <= DefaultBurst+1; seq++ {
		_, err = c.Send(context.Background(), h.report("ws-1", seq))
	}
	wantRefused(t, err, http.StatusTooManyRequests, ReasonRateLimited)
	var ref *Refused
	if errors.As(err, &ref); ref.RetryAfter <= 0 {
		t.Errorf("Retry-After %s", ref.RetryAfter)
	}
	h.clock.Step(time.Minute)
	if _, err := c.Send(context.Background(), h.report("ws-1", 10)); err != nil {
		t.Fatalf("after a minute: %v", err)
	}
}

func TestServer_deviceNotFound(t *testing.T) {
	h := newHarness(t)
	c := h.client(h.enroll("ghost"))
	_, err := c.Send(context.Background(), h.report("ghost", 1))
	wantRefused(t, err, http.StatusNotFound, ReasonDeviceNotFound)
}
