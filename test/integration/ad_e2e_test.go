// Package integration runs the manager end to end against real parts: a kube-apiserver (envtest)
// and a Samba AD DC holding computers with LAPS state, talked to by the AD backend exactly as a
// customer's domain controllers would be.
package integration

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
	"github.com/fleetlaps/fleetlaps/controllers"
	"github.com/fleetlaps/fleetlaps/internal/directory"
	"github.com/fleetlaps/fleetlaps/internal/directory/ad"
	"github.com/fleetlaps/fleetlaps/internal/directory/ad/adtest"
	"github.com/fleetlaps/fleetlaps/internal/directoryconfig"
	"github.com/fleetlaps/fleetlaps/internal/logcapture"
	"github.com/fleetlaps/fleetlaps/internal/testenv"
)

const (
	fleetSize = 20
	namespace = "fleet"
	// secretMarker is in every fake password value gen-computers.py writes (hack/samba).
	secretMarker = "FLEETSECRET"
)

var (
	srv *adtest.Server
	k8s client.Client
	// logs holds every log line of the manager and the AD backend, for the secret scan.
	logs *logcapture.Buffer
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	// Every log line of the manager and the AD backend goes to a buffer the tests scan for secrets.
	var logger logr.Logger
	logs, logger = logcapture.New(1)
	ctrl.SetLogger(logger)
	var err error
	// SMB: the Group Policy story publishes to SYSVOL (one SMB-enabled DC per machine; adtest
	// serialises them across test binaries).
	srv, err = adtest.Start(adtest.Options{Computers: fleetSize, SMB: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = srv.Stop() }()
	cfg, stop, err := testenv.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = stop() }()

	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	_ = lapsv1.AddToScheme(scheme)
	k8s, err = client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	dirs, err := directories()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	cacheOpts, err := controllers.CacheOptions("") // as cmd/manager without a shard
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{Scheme: scheme, Cache: cacheOpts, Metrics: metricsserver.Options{BindAddress: "0"}})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if _, err := controllers.SetupWithManager(ctx, mgr, controllers.Options{Directories: dirs, SyncInterval: 2 * time.Second, GroupPolicyResync: 2 * time.Second}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	go func() {
		if err := mgr.Start(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "manager:", err)
		}
	}()
	return m.Run()
}

// directories is the manager's --directories file for the Samba DC, with the controller's bind
// password in a Secret-like credentials directory, as in a cluster.
func directories() (*directoryconfig.Set, error) {
	creds, err := os.MkdirTemp("", "fleetlaps-creds-")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(creds, "password"), []byte(srv.BindPassword), 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(creds, "gpo-password"), []byte(srv.GPOPassword), 0o600); err != nil {
		return nil, err
	}
	doc := map[string]any{"directories": []any{map[string]any{
		"name": "corp", "type": "activeDirectory", "credentialsDir": creds,
		"settings": map[string]any{
			"urls": []string{srv.LDAPSURL}, "caFile": srv.CAFile, "bindDN": srv.BindDN,
			"searchBases": []string{"OU=Fleet," + srv.Base, "OU=Linked," + srv.Base}, "pageSize": 7,
			"groupPolicy": map[string]any{"bindDN": srv.GPODN, "user": "fleetlaps-gpo", "domain": srv.Domain, "smbAddress": srv.SMBAddress},
		},
		"discovery": map[string]any{"enabled": true, "namespace": namespace, "searchBase": "OU=Fleet," + srv.Base},
	}}}
	data, _ := json.Marshal(doc)
	file, err := directoryconfig.Parse(data)
	if err != nil {
		return nil, err
	}
	set := directoryconfig.Open(file, directoryconfig.Registry{directory.TypeActiveDirectory: ad.OpenFromSettings})
	for _, e := range set.Entries() {
		if e.Err != nil {
			return nil, e.Err
		}
	}
	return set, nil
}

func eventually(t *testing.T, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var err error
	for time.Now().Before(deadline) {
		if err = cond(); err == nil {
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("%s: %v", what, err)
}

func device(t *testing.T, name string) *lapsv1.ManagedDevice {
	t.Helper()
	d := &lapsv1.ManagedDevice{}
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: namespace, Name: name}, d); err != nil {
		t.Fatalf("device %s: %v", name, err)
	}
	return d
}

func conditionIs(conds []metav1.Condition, typ string, want metav1.ConditionStatus) error {
	c := apimeta.FindStatusCondition(conds, typ)
	if c == nil || c.Status != want {
		return fmt.Errorf("%s is %+v, want %s", typ, c, want)
	}
	return nil
}

// TestActiveDirectory_PolicyDevicesAndOneRotation is the story an operator lives: devices are
// discovered from AD, a policy applies to them, their LAPS state shows in status, one rotation is
// requested, written to AD, carried out by the "device", and succeeds on evidence.
func TestActiveDirectory_PolicyDevicesAndOneRotation(t *testing.T) {
	ctx := context.Background()
	policy := &lapsv1.LapsPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "workstations", Namespace: namespace},
		Spec: lapsv1.LapsPolicySpec{
			BackupDirectory: lapsv1.BackupDirectoryActiveDirectory,
			DirectoryRef:    lapsv1.DirectoryReference{Name: "corp"},
			PolicyRoot:      lapsv1.PolicyRootGroupPolicy,
		},
	}
	if err := k8s.Create(ctx, policy); err != nil {
		t.Fatal(err)
	}

	// Discovery: one ManagedDevice per computer in OU=Fleet (20 computers, page size 7).
	eventually(t, "discovery", func() error {
		var list lapsv1.ManagedDeviceList
		if err := k8s.List(ctx, &list, client.InNamespace(namespace)); err != nil {
			return err
		}
		if len(list.Items) != fleetSize {
			return fmt.Errorf("%d devices", len(list.Items))
		}
		return nil
	})

	// fleet-00005: Windows LAPS with an encrypted password (gen-computers.py index 5).
	const target = "fleet-00005"
	eventually(t, "device status from AD", func() error {
		d := device(t, target)
		if d.Status.EffectivePolicy == nil || d.Status.EffectivePolicy.Name != "workstations" {
			return fmt.Errorf("effective policy %+v", d.Status.EffectivePolicy)
		}
		if d.Status.Source != lapsv1.PasswordSourceEncrypted || d.Status.CurrentPasswordVersion == "" || d.Status.PasswordExpirationTime == nil {
			return fmt.Errorf("status %+v", d.Status)
		}
		return conditionIs(d.Status.Conditions, lapsv1.ConditionPasswordCurrent, metav1.ConditionTrue)
	})
	// fleet-00001: never managed by LAPS.
	eventually(t, "unmanaged device", func() error {
		return conditionIs(device(t, "fleet-00001").Status.Conditions, lapsv1.ConditionPasswordCurrent, metav1.ConditionFalse)
	})
	before := device(t, target).Status.CurrentPasswordVersion

	rr := &lapsv1.RotationRequest{
		ObjectMeta: metav1.ObjectMeta{Name: "rotate-5", Namespace: namespace},
		Spec:       lapsv1.RotationRequestSpec{DeviceName: target, Reason: "INC-1: password shown in a screen share"},
	}
	if err := k8s.Create(ctx, rr); err != nil {
		t.Fatal(err)
	}
	var requestedAt time.Time
	eventually(t, "rotation written to AD", func() error {
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(rr), rr); err != nil {
			return err
		}
		if len(rr.Status.Results) != 1 || rr.Status.Results[0].WrittenAt == nil {
			return fmt.Errorf("status %+v", rr.Status)
		}
		requestedAt = rr.Status.Results[0].RequestTime()
		return nil
	})

	conn, err := srv.Admin()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	dn := "CN=" + target + ",OU=Fleet," + srv.Base
	res, err := conn.Search(ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false,
		"(objectClass=computer)", []string{"msLAPS-PasswordExpirationTime"}, nil))
	if err != nil || len(res.Entries) != 1 {
		t.Fatalf("reading back the expiry: %v", err)
	}
	if got, want := res.Entries[0].GetAttributeValue("msLAPS-PasswordExpirationTime"), strconv.FormatInt(filetime(requestedAt), 10); got != want {
		t.Fatalf("msLAPS-PasswordExpirationTime = %s, want the requested time %s", got, want)
	}
	if err := conditionIs(device(t, target).Status.Conditions, lapsv1.ConditionRotating, metav1.ConditionTrue); err != nil {
		// The device controller may not have seen the request yet; it must within a sync.
		eventually(t, "device shows Rotating", func() error {
			return conditionIs(device(t, target).Status.Conditions, lapsv1.ConditionRotating, metav1.ConditionTrue)
		})
	}

	// The device's next LAPS cycle (seed 001): expiry passed, so it rotates and backs up a new
	// encrypted password with a new version GUID and expiry.
	rotateLikeWindows(t, conn, dn)

	eventually(t, "rotation succeeded on evidence", func() error {
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(rr), rr); err != nil {
			return err
		}
		if rr.Status.Phase != lapsv1.RotationSucceeded || rr.Status.Rotated != 1 {
			return fmt.Errorf("phase %s, results %+v", rr.Status.Phase, rr.Status.Results)
		}
		return conditionIs(rr.Status.Conditions, lapsv1.ConditionReady, metav1.ConditionTrue)
	})
	eventually(t, "device current again with the new version", func() error {
		d := device(t, target)
		if d.Status.CurrentPasswordVersion == before {
			return fmt.Errorf("version still %s", before)
		}
		return conditionIs(d.Status.Conditions, lapsv1.ConditionReady, metav1.ConditionTrue)
	})

	assertNoSecrets(t)
}

// rotateLikeWindows writes what Windows LAPS writes after a rotation: a new encrypted password
// (16-byte header with the update FILETIME, then an opaque blob), a new version GUID and a new
// expiry. It uses the domain admin, as the computer account would.
func rotateLikeWindows(t *testing.T, conn *ldap.Conn, dn string) {
	t.Helper()
	now := time.Now().UTC()
	ft := filetime(now)
	body := []byte("opaque-cms-blob-" + secretMarker)
	header := make([]byte, 16)
	binary.LittleEndian.PutUint32(header[0:4], uint32(ft>>32))
	binary.LittleEndian.PutUint32(header[4:8], uint32(ft))
	binary.LittleEndian.PutUint32(header[8:12], uint32(len(body)))
	guid := make([]byte, 16)
	_, _ = rand.Read(guid)
	mod := ldap.NewModifyRequest(dn, nil)
	mod.Replace("msLAPS-EncryptedPassword", []string{string(append(header, body...))})
	mod.Replace("msLAPS-CurrentPasswordVersion", []string{string(guid)})
	mod.Replace("msLAPS-PasswordExpirationTime", []string{strconv.FormatInt(filetime(now.Add(30*24*time.Hour)), 10)})
	if err := conn.Modify(mod); err != nil {
		t.Fatalf("device rotation: %v", err)
	}
}

func filetime(t time.Time) int64 {
	return (t.Unix()+11644473600)*10_000_000 + int64(t.Nanosecond()/100)
}

// assertNoSecrets scans the manager's logs, every object's status and every event for password
// values and the bind password.
func assertNoSecrets(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	var haystack strings.Builder
	haystack.WriteString(logs.String())
	var devices lapsv1.ManagedDeviceList
	var requests lapsv1.RotationRequestList
	var policies lapsv1.LapsPolicyList
	var events eventsv1.EventList
	var legacyEvents corev1.EventList
	for _, l := range []client.ObjectList{&devices, &requests, &policies, &events, &legacyEvents} {
		if err := k8s.List(ctx, l, client.InNamespace(namespace)); err != nil {
			t.Fatal(err)
		}
		data, _ := json.Marshal(l)
		haystack.Write(data)
	}
	if len(events.Items)+len(legacyEvents.Items) == 0 {
		t.Error("no events recorded: the scan would prove nothing about them")
	}
	all := haystack.String()
	for _, secret := range []string{secretMarker, srv.BindPassword, srv.AdminPassword} {
		if strings.Contains(all, secret) {
			t.Errorf("a secret (%d characters) appears in logs, status or events", len(secret))
		}
	}
	if !strings.Contains(all, "fleet-00005") {
		t.Error("the scanned material does not mention the device: the scan looked at nothing")
	}
}
