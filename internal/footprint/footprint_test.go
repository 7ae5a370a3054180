package footprint

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
	"github.com/fleetlaps/fleetlaps/internal/testenv"
)

var (
	env *envtest.Environment
	cfg *rest.Config
	k8s client.Client
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	var err error
	if env, err = testenv.Environment(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if cfg, err = env.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "envtest:", err)
		return 1
	}
	defer func() { _ = env.Stop() }()
	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	_ = lapsv1.AddToScheme(scheme)
	if k8s, err = client.New(cfg, client.Options{Scheme: scheme}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

func device(name, dn string) *lapsv1.ManagedDevice {
	return &lapsv1.ManagedDevice{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: lapsv1.ManagedDeviceSpec{
			Identity:     lapsv1.DeviceIdentity{ActiveDirectory: &lapsv1.ActiveDirectoryIdentity{DistinguishedName: dn}},
			DirectoryRef: lapsv1.DirectoryReference{Name: "corp"},
		},
	}
}

// The sizes are the stored values' own lengths: 20 devices, one with a DN about 1,480 bytes longer.
func TestMeasure_ManagedDevicesAsStored(t *testing.T) {
	ctx := context.Background()
	for i := range 19 {
		if err := k8s.Create(ctx, device(fmt.Sprintf("ws-%02d", i), fmt.Sprintf("CN=WS-%02d,OU=Workstations,DC=corp,DC=test", i))); err != nil {
			t.Fatal(err)
		}
	}
	long := "CN=" + strings.Repeat("x", 1500) + ",DC=corp,DC=test"
	if err := k8s.Create(ctx, device("ws-long", long)); err != nil {
		t.Fatal(err)
	}
	// Something else in etcd under a prefix that only starts the same: not counted.
	if err := k8s.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "manageddevices-not", Namespace: "default"}}); err != nil {
		t.Fatal(err)
	}

	r, err := Measure(ctx, env.ControlPlane.Etcd.URL.String(), ManagedDevicePrefix)
	if err != nil {
		t.Fatal(err)
	}
	e, err := OpenEtcd(env.ControlPlane.Etcd.URL.String())
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	values, err := e.Values(ctx, ManagedDevicePrefix, 100)
	if err != nil {
		t.Fatal(err)
	}
	var total, maxLen, mfTotal int64
	for _, v := range values {
		total += int64(len(v))
		maxLen = max(maxLen, int64(len(v)))
		var obj lapsv1.ManagedDevice
		if err := json.Unmarshal(v, &obj); err != nil {
			t.Fatalf("a stored ManagedDevice is not JSON: %v", err)
		}
		if len(obj.ManagedFields) != 1 {
			t.Fatalf("%s: %d managedFields entries, want 1 (the creating client's)", obj.Name, len(obj.ManagedFields))
		}
		mf, _ := json.Marshal(obj.ManagedFields)
		mfTotal += int64(len(mf))
	}
	s := r.Stored
	if s.Count != 20 || len(values) != 20 {
		t.Fatalf("count %d (values read %d), want 20", s.Count, len(values))
	}
	if s.TotalBytes != total || s.MaxBytes != maxLen || s.MeanBytes != float64(total)/20 {
		t.Fatalf("total %d max %d mean %.1f, want %d %d %.1f", s.TotalBytes, s.MaxBytes, s.MeanBytes, total, maxLen, float64(total)/20)
	}
	if s.P99Bytes != s.MaxBytes || s.MaxBytes-s.P50Bytes < 1450 {
		t.Fatalf("p50 %d p99 %d max %d: p99 of 20 is the 20th value, the long one", s.P50Bytes, s.P99Bytes, s.MaxBytes)
	}
	// The stored array and its re-encoding may differ in formatting only.
	if s.ManagedFieldsEntries != 1 || s.ManagedFieldsBytes < mfTotal*9/10 || s.ManagedFieldsBytes > mfTotal*11/10 {
		t.Fatalf("managedFields %d bytes, %.1f entries; re-encoded %d bytes, 1 entry each", s.ManagedFieldsBytes, s.ManagedFieldsEntries, mfTotal)
	}
	if r.EtcdDB.DBSize <= 0 || r.EtcdDB.DBSizeInUse <= 0 || r.EtcdDB.DBSizeInUse > r.EtcdDB.DBSize || r.EtcdDB.Revision <= 0 {
		t.Fatalf("etcd status %+v", r.EtcdDB)
	}
	// Both processes are envtest's own children, found by the etcd URL.
	for _, p := range []ProcessMemory{r.APIServer, r.EtcdProcess} {
		if p.RSS < 1<<20 || p.PeakRSS < p.RSS {
			t.Fatalf("process memory %+v", p)
		}
		status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.PID))
		if err != nil || !strings.Contains(string(status), fmt.Sprintf("PPid:\t%d\n", os.Getpid())) {
			t.Fatalf("pid %d is not a child of this test process (%v)", p.PID, err)
		}
	}
	res, err := e.Resources(ctx, DefaultEtcdPrefix)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]ResourceUsage{}
	for _, u := range res {
		byName[u.Resource] = u
	}
	md := byName["laps.fleetlaps.io/manageddevices"]
	if md.Count != 20 || md.Bytes != s.TotalBytes+s.KeyBytes || byName["configmaps"].Count == 0 || byName["namespaces"].Count == 0 {
		t.Fatalf("by resource: %+v", res)
	}
	if r.APIServer.PID == r.EtcdProcess.PID {
		t.Fatal("one pid for both")
	}
}

func TestFindControlPlane_UnknownEtcd(t *testing.T) {
	if _, err := FindControlPlane("http://127.0.0.1:1"); err == nil || !strings.Contains(err.Error(), "http://127.0.0.1:1") {
		t.Fatalf("err %v, want one naming the etcd URL", err)
	}
}

func TestReadProcessMemory(t *testing.T) {
	m, err := ReadProcessMemory(os.Getpid())
	if err != nil || m.RSS <= 0 || m.PeakRSS < m.RSS {
		t.Fatalf("%+v %v", m, err)
	}
	if _, err := ReadProcessMemory(-1); err == nil {
		t.Fatal("pid -1: no error")
	}
}

func TestHasFlag(t *testing.T) {
	for _, c := range []struct {
		args []string
		want bool
	}{
		{[]string{"--etcd-servers=http://127.0.0.1:2379"}, true},
		{[]string{"--etcd-servers=http://127.0.0.1:2379/"}, true},
		{[]string{"--etcd-servers", "http://127.0.0.1:1,http://127.0.0.1:2379"}, true},
		{[]string{"--etcd-servers=http://127.0.0.1:23790"}, false},
		{[]string{"--etcd-servers-overrides=http://127.0.0.1:2379"}, false},
		{[]string{"--etcd-servers"}, false},
	} {
		if got := hasFlag(c.args, "etcd-servers", "http://127.0.0.1:2379"); got != c.want {
			t.Errorf("%q: %v, want %v", c.args, got, c.want)
		}
	}
}

func TestManagedFieldsSize(t *testing.T) {
	for _, c := range []struct {
		value   string
		bytes   int64
		entries int
	}{
		{`{"metadata":{"managedFields":[{"manager":"a"},{"manager":"b"}]}}`, 33, 2},
		{`{"metadata":{}}`, 0, 0},
		{"k8s\x00protobuf", 0, 0},
		{``, 0, 0},
	} {
		b, n := managedFieldsSize([]byte(c.value))
		if b != c.bytes || n != c.entries {
			t.Errorf("%q: %d bytes %d entries, want %d %d", c.value, b, n, c.bytes, c.entries)
		}
	}
}

func TestNearestRank(t *testing.T) {
	v := []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	if nearestRank(v, 0.5) != 5 || nearestRank(v, 0.99) != 10 || nearestRank(v, 0) != 1 || nearestRank([]int64{7}, 0.99) != 7 {
		t.Fatal("nearest rank")
	}
}

func TestResourceOf(t *testing.T) {
	for rel, want := range map[string]string{
		"laps.fleetlaps.io/manageddevices/fleet/pc-1": "laps.fleetlaps.io/manageddevices",
		"events/fleet/pc-1.1873":                      "events",
		"namespaces/fleet":                            "namespaces",
		"masterleases/127.0.0.1":                      "masterleases",
		"ranges":                                      "ranges",
	} {
		if got := resourceOf(rel); got != want {
			t.Errorf("%s: %s, want %s", rel, got, want)
		}
	}
}

func TestAPIServerHeap(t *testing.T) {
	h, err := APIServerHeap(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if h.HeapAlloc < 1<<20 || h.HeapInuse < h.HeapAlloc || h.Sys < h.HeapInuse {
		t.Fatalf("%+v", h)
	}
	// The apiserver serves (and caches) a custom resource from its first request on.
	var list lapsv1.ManagedDeviceList
	if err := k8s.List(context.Background(), &list); err != nil {
		t.Fatal(err)
	}
	var capacity int64
	for range 50 {
		if capacity, err = WatchCacheCapacity(context.Background(), cfg, lapsv1.GroupVersion.Group, "manageddevices"); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil || capacity < 100 {
		t.Fatalf("watch cache capacity %d, %v (its lower bound is 100)", capacity, err)
	}
	if _, err := parseMemStats([]byte("heap profile: 1: 2 [3: 4] @ heap/1048576\n# HeapAlloc = 10\n")); err == nil {
		t.Fatal("a profile without HeapInuse and Sys: no error")
	}
}

func TestWatchCacheCapacity(t *testing.T) {
	const m = `# HELP apiserver_watch_cache_capacity [ALPHA] Total capacity of watch cache broken by resource type.
apiserver_watch_cache_capacity{group="laps.fleetlaps.io",resource="lapspolicies"} 200
apiserver_watch_cache_capacity{group="laps.fleetlaps.io",resource="manageddevices"} 65536
apiserver_watch_cache_initializations_total{group="laps.fleetlaps.io",resource="rotationrequests"} 1
`
	for resource, want := range map[string]int64{"manageddevices": 65536, "lapspolicies": 200, "rotationrequests": 100, "unknown": 0} {
		got, err := watchCacheCapacity([]byte(m), "laps.fleetlaps.io", resource)
		if got != want || (err != nil) != (want == 0) {
			t.Errorf("%s: %d %v, want %d", resource, got, err, want)
		}
	}
}

func TestVersions(t *testing.T) {
	ctx := context.Background()
	d := device("versions", "CN=V,DC=corp,DC=test")
	if err := k8s.Create(ctx, d); err != nil {
		t.Fatal(err)
	}
	for _, account := range []string{"a", "b"} {
		before := d.DeepCopy()
		d.Status.Account = account
		if err := k8s.Status().Patch(ctx, d, client.MergeFrom(before)); err != nil {
			t.Fatal(err)
		}
	}
	e, err := OpenEtcd(env.ControlPlane.Etcd.URL.String())
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	vs, err := e.Versions(ctx, ManagedDevicePrefix+"default/versions", 10)
	if err != nil {
		t.Fatal(err)
	}
	var accounts []string
	for _, v := range vs {
		var md lapsv1.ManagedDevice
		if err := json.Unmarshal(v, &md); err != nil {
			t.Fatal(err)
		}
		accounts = append(accounts, md.Status.Account)
	}
	if strings.Join(accounts, ",") != "b,a," {
		t.Fatalf("accounts newest first %q, want b,a and the create's empty one", accounts)
	}
	if vs, err := e.Versions(ctx, ManagedDevicePrefix+"default/versions", 2); err != nil || len(vs) != 2 {
		t.Fatalf("max 2: %d versions, %v", len(vs), err)
	}
}
