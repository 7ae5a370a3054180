package dirsync

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
	"github.com/fleetlaps/fleetlaps/internal/directory"
	"github.com/fleetlaps/fleetlaps/internal/directoryconfig"
	"github.com/fleetlaps/fleetlaps/internal/dn"
	"github.com/fleetlaps/fleetlaps/internal/metrics"
)

// Labels set on discovered ManagedDevices.
const (
	LabelDirectory        = "laps.fleetlaps.io/directory"
	LabelDiscovered       = "laps.fleetlaps.io/discovered"
	LabelDomainController = "laps.fleetlaps.io/domain-controller"
	LabelOU               = "laps.fleetlaps.io/ou"
)

// DefaultInterval is the default --sync-interval.
const DefaultInterval = 5 * time.Minute

// DeviceEvent is what the syncer sends to the ManagedDevice controller's channel source.
type DeviceEvent = event.TypedGenericEvent[*lapsv1.ManagedDevice]

// Syncer takes one snapshot of one directory per interval, keeps it in the Store and enqueues
// the ManagedDevices whose records changed. It is a leader-elected manager.Runnable.
type Syncer struct {
	Directory directory.Directory
	// Reader lists ManagedDevices (the manager's cache).
	Reader client.Reader
	// Writer creates discovered ManagedDevices (and clears their managedFields).
	Writer client.Writer
	Store  *Store
	Events chan<- DeviceEvent
	Clock  clock.Clock
	// Interval between passes (default DefaultInterval); each wait is jittered by up to +10%.
	Interval time.Duration
	// Grace is how long failures last before the directory counts as unavailable (default
	// 3 intervals).
	Grace time.Duration
	// Discovery, when enabled, creates ManagedDevices for records that have none.
	Discovery *directoryconfig.Discovery
	// Jitter returns a random fraction in [0,1); nil means math/rand. Tests pass a constant.
	Jitter func() float64
	Log    logr.Logger

	failures int
	// retry is the wait before the next snapshot after a failure; reset on success.
	retry wait.Backoff
}

var (
	_ manager.Runnable               = (*Syncer)(nil)
	_ manager.LeaderElectionRunnable = (*Syncer)(nil)
)

// NeedLeaderElection: only the leader reads the directory and enqueues.
func (s *Syncer) NeedLeaderElection() bool { return true }

// Start runs passes until ctx ends.
func (s *Syncer) Start(ctx context.Context) error {
	for {
		wait := s.SyncOnce(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-s.Clock.After(wait):
		}
	}
}

func (s *Syncer) interval() time.Duration {
	if s.Interval <= 0 {
		return DefaultInterval
	}
	return s.Interval
}

func (s *Syncer) grace() time.Duration {
	if s.Grace <= 0 {
		return 3 * s.interval()
	}
	return s.Grace
}

func (s *Syncer) jitter(d time.Duration) time.Duration {
	f := rand.Float64
	if s.Jitter != nil {
		f = s.Jitter
	}
	return d + time.Duration(f()*0.1*float64(d))
}

// SyncOnce takes one snapshot, stores it, enqueues changed devices and runs discovery. It
// returns how long to wait before the next pass (interval, or a backoff after a failure).
func (s *Syncer) SyncOnce(ctx context.Context) time.Duration {
	name := s.Directory.Name()
	log := s.Log.WithValues("directory", name)
	start := s.Clock.Now()
	snap, err := s.Directory.Snapshot(ctx)
	elapsed := s.Clock.Since(start).Seconds()
	metrics.SyncInterval.WithLabelValues(name).Set(s.interval().Seconds())
	if err != nil {
		metrics.SyncDuration.WithLabelValues(name, "error").Observe(elapsed)
		s.failures++
		became := s.Store.Fail(name, err, s.Clock.Now(), s.grace())
		if st, ok := s.Store.State(name); ok && st.Unavailable {
			metrics.DirectoryUnavailable.WithLabelValues(name).Set(1)
		}
		log.Error(err, "directory snapshot failed; keeping the last snapshot", "failures", s.failures, "kind", directory.KindOf(err))
		if became {
			log.Info("directory unavailable for longer than the grace period", "grace", s.grace().String())
			s.enqueueAll(ctx)
		}
		return s.backoff()
	}
	s.failures = 0
	metrics.SyncDuration.WithLabelValues(name, "success").Observe(elapsed)
	metrics.SyncRoundTrips.WithLabelValues(name).Add(float64(snap.RoundTrips))
	metrics.SyncDevices.WithLabelValues(name).Set(float64(len(snap.Devices)))
	metrics.DirectoryUnavailable.WithLabelValues(name).Set(0)
	prev, hadPrev := s.Store.State(name)
	all := !hadPrev || !prev.Loaded || prev.LastError != nil
	changed := map[string]bool{}
	if !all {
		// A removed device's keys come from the previous snapshot, still in the store.
		for _, k := range slices.Concat(snap.Changed, snap.Removed) {
			r, ok := snap.Devices[k]
			if !ok {
				r, ok = s.Store.Record(name, k)
			}
			if !ok {
				r = directory.DeviceRecord{Key: k}
			}
			for _, ik := range RecordKeys(name, s.Directory.Type(), r) {
				changed[ik] = true
			}
		}
	}
	all = s.Store.Put(name, snap) || all

	devices, err := s.devices(ctx)
	if err != nil {
		log.Error(err, "listing ManagedDevices")
		return s.jitter(s.interval())
	}
	// known holds the identities that discovery's own namespace already has. Objects in other
	// namespaces do not count: a namespace that names a computer first must not keep discovery
	// from creating it where the connection's admin wants it (no squatting).
	known := map[string]bool{}
	discoveryNamespace := ""
	if s.Discovery != nil {
		discoveryNamespace = s.Discovery.Namespace
	}
	n := 0
	for _, d := range devices {
		keys := Keys(name, d.Spec.Identity)
		hit := all
		for _, k := range keys {
			if d.Namespace == discoveryNamespace {
				known[k] = true
			}
			hit = hit || changed[k]
		}
		if hit {
			n++
			s.send(ctx, d)
		}
	}
	log.V(1).Info("directory synced", "devices", len(snap.Devices), "changed", len(snap.Changed), "enqueued", n, "roundTrips", snap.RoundTrips)
	if s.Discovery != nil && s.Discovery.Enabled {
		s.discover(ctx, log, snap, known)
	}
	return s.jitter(s.interval())
}

// backoff doubles from 10s up to the interval (plus the pass jitter), starting over after a
// success.
func (s *Syncer) backoff() time.Duration {
	if s.failures == 1 {
		s.retry = wait.Backoff{Duration: 10 * time.Second, Factor: 2, Steps: math.MaxInt32, Cap: s.interval()}
	}
	return s.jitter(min(s.retry.Step(), s.interval()))
}

func (s *Syncer) enqueueAll(ctx context.Context) {
	devices, err := s.devices(ctx)
	if err != nil {
		s.Log.WithValues("directory", s.Directory.Name()).Error(err, "listing ManagedDevices")
		return
	}
	for _, d := range devices {
		s.send(ctx, d)
	}
}

// devices lists the ManagedDevices that reference this connection, read only. There is no field
// index by directory: it would cost the cache two set entries per device for a filter that runs
// once per pass.
func (s *Syncer) devices(ctx context.Context) ([]*lapsv1.ManagedDevice, error) {
	var all lapsv1.ManagedDeviceList
	if err := s.Reader.List(ctx, &all, client.UnsafeDisableDeepCopy); err != nil {
		return nil, err
	}
	name := s.Directory.Name()
	out := make([]*lapsv1.ManagedDevice, 0, len(all.Items))
	for i := range all.Items {
		if all.Items[i].Spec.DirectoryRef.Name == name {
			out = append(out, &all.Items[i])
		}
	}
	return out, nil
}

func (s *Syncer) send(ctx context.Context, d *lapsv1.ManagedDevice) {
	ev := DeviceEvent{Object: &lapsv1.ManagedDevice{ObjectMeta: metav1.ObjectMeta{Name: d.Name, Namespace: d.Namespace}}}
	select {
	case s.Events <- ev:
	case <-ctx.Done():
	}
}

// managedFieldsReset is the merge patch that empties metadata.managedFields: a list holding one
// empty entry (an empty list is ignored). The kube-apiserver tracks field ownership of Update
// operations only while an object has managedFields, so once cleared they stay empty through
// every later status write (the controller's, the report API's) until someone uses server-side
// apply. A discovered device is written only by fleetlaps through Updates and patches: its
// managedFields (the status writers' entries alone took half of each stored object, about 2.4 KB
// of 5.2 KB) say nothing an operator uses, and nothing in fleetlaps reads them.
var managedFieldsReset = client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"managedFields":[{}]}}`))

// discover creates ManagedDevices, in the discovery namespace only, for records that have none
// there, and clears the managedFields of each it created. It never otherwise updates or deletes.
func (s *Syncer) discover(ctx context.Context, log logr.Logger, snap *directory.Snapshot, known map[string]bool) {
	name := s.Directory.Name()
	keys := make([]string, 0, len(snap.Devices))
	for k := range snap.Devices {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var todo []directory.DeviceRecord
	for _, k := range keys {
		r := snap.Devices[k]
		have := false
		for _, ik := range RecordKeys(name, s.Directory.Type(), r) {
			have = have || known[ik]
		}
		if !have && InSearchBase(r.DistinguishedName, s.Discovery.SearchBase) {
			todo = append(todo, r)
		}
	}
	// A first sync of a large directory creates every device: two requests each, issued by a
	// few workers at once so 100,000 devices take minutes, not the sum of 200,000 round trips.
	var created atomic.Int64
	work := make(chan directory.DeviceRecord)
	var wg sync.WaitGroup
	for range min(discoveryWorkers, len(todo)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range work {
				if s.createDiscovered(ctx, log, name, r) {
					created.Add(1)
				}
			}
		}()
	}
	for _, r := range todo {
		if ctx.Err() != nil {
			break
		}
		work <- r
	}
	close(work)
	wg.Wait()
	if n := created.Load(); n > 0 {
		log.Info("discovered devices", "created", n)
	}
}

// discoveryWorkers is how many discovered devices are created at once.
const discoveryWorkers = 8

// createDiscovered creates the ManagedDevice of one record and clears its managedFields; it
// reports whether the device exists now.
func (s *Syncer) createDiscovered(ctx context.Context, log logr.Logger, name string, r directory.DeviceRecord) bool {
	d := DiscoveredDevice(name, s.Directory.Type(), s.Discovery, r)
	err := s.Writer.Create(ctx, d)
	if apierrors.IsAlreadyExists(err) {
		// Another object (perhaps hand-made) holds the name: never touch it; add a suffix.
		d.Name = trimName(d.Name, 54) + "-" + shortHash(r.Key)
		err = s.Writer.Create(ctx, d)
	}
	if err != nil && !apierrors.IsAlreadyExists(err) {
		log.Error(err, "creating discovered ManagedDevice", "device", d.Name)
		return false
	}
	if err == nil {
		if err := s.Writer.Patch(ctx, d, managedFieldsReset); err != nil {
			// The device works as well with them; it only takes more room.
			log.Error(err, "clearing the managedFields of a discovered ManagedDevice", "device", d.Name)
		}
	}
	return true
}

// InSearchBase reports whether the DN lies under base (compared as parsed DNs, case-folded);
// an empty base matches all.
func InSearchBase(distinguishedName, base string) bool {
	if base == "" {
		return true
	}
	return dn.Within(distinguishedName, base)
}

var nonName = regexp.MustCompile(`[^a-z0-9-]+`)

// DiscoveredDevice builds the ManagedDevice for a directory record.
func DiscoveredDevice(dir string, typ directory.Type, disc *directoryconfig.Discovery, r directory.DeviceRecord) *lapsv1.ManagedDevice {
	n := strings.Trim(nonName.ReplaceAllString(strings.ToLower(r.Name), "-"), "-")
	if n == "" {
		n = "device-" + shortHash(r.Key)
	}
	labels := map[string]string{}
	for k, v := range disc.Labels {
		labels[k] = v
	}
	labels[LabelDirectory] = dir
	labels[LabelDiscovered] = "true"
	d := &lapsv1.ManagedDevice{
		ObjectMeta: metav1.ObjectMeta{Name: trimName(n, 63), Namespace: disc.Namespace, Labels: labels},
		Spec:       lapsv1.ManagedDeviceSpec{DirectoryRef: lapsv1.DirectoryReference{Name: dir}},
	}
	if typ == directory.TypeEntraID {
		d.Spec.Identity.EntraID = &lapsv1.EntraIDIdentity{DeviceID: r.DeviceID, ManagedDeviceID: r.ManagedDeviceID}
		if d.Spec.Identity.EntraID.DeviceID == "" {
			d.Spec.Identity.EntraID.DeviceID = r.Key
		}
		return d
	}
	labels[LabelDomainController] = fmt.Sprint(r.DomainController)
	if ou := OUPath(r.DistinguishedName); ou != "" {
		labels[LabelOU] = ou
	}
	guid := r.ObjectGUID
	if guid == "" {
		guid = r.Key
	}
	d.Spec.Identity.ActiveDirectory = &lapsv1.ActiveDirectoryIdentity{
		DistinguishedName: r.DistinguishedName, ObjectGUID: guid, SAMAccountName: r.SAMAccountName, DomainController: r.DomainController,
	}
	return d
}

var nonLabel = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

// OUPath turns "CN=PC1,OU=Berlin,OU=Workstations,DC=corp,DC=example" into the label value
// "Workstations.Berlin" (top-down). Values longer than 63 characters keep a prefix and a hash.
func OUPath(distinguishedName string) string {
	var ous []string
	for _, v := range dn.Values(distinguishedName, "OU") {
		ous = append(ous, nonLabel.ReplaceAllString(v, "_"))
	}
	slices.Reverse(ous)
	v := strings.Join(ous, ".")
	if len(v) > 63 {
		v = v[:54] + "-" + shortHash(v)
	}
	return strings.Trim(v, "_.-")
}

func shortHash(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])[:8]
}

func trimName(n string, max int) string {
	if len(n) > max {
		n = strings.TrimRight(n[:max], "-")
	}
	return n
}
