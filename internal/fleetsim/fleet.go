package fleetsim

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"k8s.io/utils/clock"

	"github.com/fleetlaps/fleetlaps/internal/adsyntax"
	"github.com/fleetlaps/fleetlaps/internal/ldapserver"
)

// Directory is the device side of Active Directory: what a LAPS client reads and writes on its
// own computer object with its SELF rights. *ldapserver.Store implements it in process (the
// "device channel"); the controller side always goes through real LDAP.
type Directory interface {
	Read(id ldapserver.Identity, dn string, attrs ...string) (map[string][]string, error)
	Modify(id ldapserver.Identity, dn string, changes []ldapserver.Change) error
}

// Rates are per-cycle probabilities of injected failures.
type Rates struct {
	// Unreachable: the cycle cannot reach a domain controller (10011, 10005 0x8007203A).
	Unreachable float64
	// PermissionDenied: the rotation write is refused (10017, 10005 0x80070005).
	PermissionDenied float64
	// Complexity: a rotation cannot build a password meeting the local policy (10027).
	Complexity float64
}

// Config configures a fleet.
type Config struct {
	// Seed makes the fleet reproducible: first-cycle offsets, jitter, failure draws, GUIDs.
	Seed uint64
	// CycleInterval is the background processing interval (Windows: one hour, not configurable).
	CycleInterval time.Duration
	// Jitter is the maximum random delay added to each cycle (default 5 minutes).
	Jitter time.Duration
	Rates  Rates
	// MaxEvents is how many recent events each device keeps (default 64: a quiet cycle logs
	// three events, so that is about a simulated day).
	MaxEvents int
	// BlobSize is the size of the opaque blob after the 16-byte header (default 1200, close to
	// captured values; lower it for very large fleets).
	BlobSize int
}

// DeviceSpec describes one simulated device.
type DeviceSpec struct {
	// Name is the computer name.
	Name string
	// DN is the computer object's DN (AD mode).
	DN               string
	DomainController bool
	// OSBuild defaults to 10.0.26100.
	OSBuild string
}

// Report is what an endpoint agent on the device would report.
type Report struct {
	Device               string    `json:"device"`
	OSBuild              string    `json:"osBuild"`
	ActivePolicyRoot     string    `json:"activePolicyRoot"`
	LocalPasswordVersion string    `json:"localPasswordVersion,omitempty"`
	LocalExpirationTime  time.Time `json:"localExpirationTime,omitzero"`
	BootMode             BootMode  `json:"bootMode"`
	RecentEvents         []Event   `json:"recentEvents"`
}

// Stats counts what the fleet did.
type Stats struct {
	Cycles            int64
	Rotations         int64
	RollbacksDetected int64
	PostAuthResets    int64
	Failures          map[int]int64 // by failure event ID
	DirectoryReads    int64
	DirectoryWrites   int64
}

type device struct {
	spec     DeviceSpec
	policy   Policy
	rng      *rand.Rand
	boot     BootMode
	next     time.Time
	index    int // position in the heap
	order    int // creation order, breaks ties
	events   []Event
	versions []localState // local LAPS state history, newest last (for image rollback)

	signInAt        time.Time // pending post-authentication reset, zero when none
	complexityFails bool      // the local password policy cannot be met
	rotations       int
}

// localState is what the device keeps in HKLM\...\LAPS\State.
type localState struct {
	version string // LastPasswordVersion
	updated time.Time
	expiry  time.Time
}

func (d *device) local() localState {
	if len(d.versions) == 0 {
		return localState{}
	}
	return d.versions[len(d.versions)-1]
}

// Fleet is a set of simulated Windows LAPS clients. It is safe for concurrent use.
type Fleet struct {
	mu     sync.Mutex
	cfg    Config
	dir    Directory
	clock  clock.PassiveClock
	writer ldapserver.Identity
	byName map[string]*device
	all    []*device
	queue  deviceHeap
	stats  Stats
	// wake tells Run that a cycle was moved earlier than it may be sleeping for.
	wake chan struct{}
}

// New returns an empty fleet writing to dir as the device identity writer.
func New(cfg Config, dir Directory, writer ldapserver.Identity, clk clock.PassiveClock) *Fleet {
	if cfg.CycleInterval <= 0 {
		cfg.CycleInterval = time.Hour
	}
	if cfg.Jitter < 0 {
		cfg.Jitter = 0
	} else if cfg.Jitter == 0 {
		cfg.Jitter = 5 * time.Minute
	}
	if cfg.MaxEvents <= 0 {
		cfg.MaxEvents = 64
	}
	if cfg.BlobSize <= 0 {
		cfg.BlobSize = 1200
	}
	if writer.Role == ldapserver.RoleNone {
		writer.Role = ldapserver.RoleDevice
	}
	return &Fleet{cfg: cfg, dir: dir, clock: clk, writer: writer, byName: map[string]*device{},
		stats: Stats{Failures: map[int]int64{}}, wake: make(chan struct{}, 1)}
}

// AddDevice adds a device with policy p. Its first cycle falls at a random point of the next
// interval, as devices boot at different times.
func (f *Fleet) AddDevice(spec DeviceSpec, p Policy) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if spec.Name == "" {
		return errors.New("device name is required")
	}
	if _, ok := f.byName[spec.Name]; ok {
		return fmt.Errorf("device %s already exists", spec.Name)
	}
	if spec.OSBuild == "" {
		spec.OSBuild = "10.0.26100"
	}
	h := fnv.New64a()
	_, _ = h.Write([]byte(spec.Name))
	d := &device{spec: spec, policy: p, boot: BootNormal, order: len(f.all),
		rng: rand.New(rand.NewPCG(f.cfg.Seed, h.Sum64()))}
	d.next = f.clock.Now().Add(time.Duration(d.rng.Int64N(int64(f.cfg.CycleInterval))))
	f.byName[spec.Name] = d
	f.all = append(f.all, d)
	heap.Push(&f.queue, d)
	f.notify()
	return nil
}

// notify wakes Run without blocking.
func (f *Fleet) notify() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

func (f *Fleet) get(name string) (*device, error) {
	d, ok := f.byName[name]
	if !ok {
		return nil, fmt.Errorf("no device %s", name)
	}
	return d, nil
}

// reschedule moves d's next cycle to at (earlier only unless force).
func (f *Fleet) reschedule(d *device, at time.Time, force bool) {
	if force || at.Before(d.next) {
		d.next = at
		heap.Fix(&f.queue, d.index)
		if !force {
			f.notify()
		}
	}
}

// SetPolicy changes a device's effective policy. As on Windows, a policy change notification
// starts a processing cycle right away.
func (f *Fleet) SetPolicy(name string, p Policy) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, err := f.get(name)
	if err != nil {
		return err
	}
	d.policy = p
	f.reschedule(d, f.clock.Now(), false)
	return nil
}

// InvokePolicyProcessing runs a cycle at once (Invoke-LapsPolicyProcessing).
func (f *Fleet) InvokePolicyProcessing(name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, err := f.get(name)
	if err != nil {
		return err
	}
	f.reschedule(d, f.clock.Now(), false)
	return nil
}

// SignIn records an authentication with the managed account: after the policy's grace period
// the device runs its post-authentication actions (a password reset). Not for the DSRM account.
func (f *Fleet) SignIn(name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, err := f.get(name)
	if err != nil {
		return err
	}
	now := f.clock.Now()
	if d.spec.DomainController {
		return fmt.Errorf("%s: post-authentication reset is not supported for the DSRM account", name)
	}
	f.log(d, Event{ID: EventManagedSignIn, Time: now, Message: "sign-in with the managed account " + d.policy.accountName()})
	if d.policy.PostAuthenticationResetDelay <= 0 {
		return nil
	}
	if d.signInAt.IsZero() {
		d.signInAt = now
	}
	f.reschedule(d, d.signInAt.Add(time.Duration(d.policy.PostAuthenticationResetDelay)*time.Hour), false)
	return nil
}

// RestoreImage reverts the device to an OS image taken `back` rotations ago: its local LAPS
// state (LastPasswordVersion, expiry) is the old one while the directory holds the newer GUID.
func (f *Fleet) RestoreImage(name string, back int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, err := f.get(name)
	if err != nil {
		return err
	}
	if back < 1 || back >= len(d.versions) {
		return fmt.Errorf("%s has no image from %d rotations ago (%d known)", name, back, len(d.versions))
	}
	d.versions = d.versions[:len(d.versions)-back]
	return nil
}

// SetBootMode boots the device in mode. LAPS does nothing outside normal mode.
func (f *Fleet) SetBootMode(name string, mode BootMode) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, err := f.get(name)
	if err != nil {
		return err
	}
	if mode == BootDSRM && !d.spec.DomainController {
		return fmt.Errorf("%s is not a domain controller", name)
	}
	d.boot = mode
	return nil
}

// SetLocalPolicyConflict makes every rotation of the device fail with 10027 (the local
// password policy demands more than the LAPS policy's length/complexity), or lifts it.
func (f *Fleet) SetLocalPolicyConflict(name string, conflict bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, err := f.get(name)
	if err != nil {
		return err
	}
	d.complexityFails = conflict
	return nil
}

// NextCycle is when the device's next processing cycle is scheduled.
func (f *Fleet) NextCycle(name string) (time.Time, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, err := f.get(name)
	if err != nil {
		return time.Time{}, err
	}
	return d.next, nil
}

// NextDue is the earliest scheduled cycle (zero when the fleet is empty).
func (f *Fleet) NextDue() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.queue) == 0 {
		return time.Time{}
	}
	return f.queue[0].next
}

// Tick runs every cycle due at or before now, in schedule order, and returns how many ran.
func (f *Fleet) Tick(now time.Time) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for len(f.queue) > 0 && !f.queue[0].next.After(now) {
		d := f.queue[0]
		f.cycle(d, now)
		n++
		jitter := time.Duration(0)
		if f.cfg.Jitter > 0 {
			jitter = time.Duration(d.rng.Int64N(int64(f.cfg.Jitter)))
		}
		next := now.Add(f.cfg.CycleInterval + jitter)
		if !d.signInAt.IsZero() {
			if due := d.signInAt.Add(time.Duration(d.policy.PostAuthenticationResetDelay) * time.Hour); due.Before(next) && due.After(now) {
				next = due
			}
		}
		f.reschedule(d, next, true)
	}
	return n
}

// Run ticks the fleet on clk until ctx ends: it sleeps (on clk) until the next due cycle, or
// until a setter moves a cycle earlier.
func (f *Fleet) Run(ctx context.Context, clk clock.Clock) error {
	for {
		wait := time.Minute
		if next := f.NextDue(); !next.IsZero() {
			wait = next.Sub(clk.Now())
		}
		if wait > 0 {
			t := clk.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-f.wake:
				t.Stop()
			case <-t.C():
			}
		} else if ctx.Err() != nil {
			return nil
		}
		f.Tick(clk.Now())
	}
}

// Report returns what the device's agent would report.
func (f *Fleet) Report(name string) (Report, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, err := f.get(name)
	if err != nil {
		return Report{}, err
	}
	return f.report(d), nil
}

// Reports returns every device's report in creation order.
func (f *Fleet) Reports() []Report {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]Report, 0, len(f.all))
	for _, d := range f.all {
		out = append(out, f.report(d))
	}
	return out
}

func (f *Fleet) report(d *device) Report {
	l := d.local()
	return Report{
		Device: d.spec.Name, OSBuild: d.spec.OSBuild, ActivePolicyRoot: d.policy.PolicyRoot,
		LocalPasswordVersion: l.version, LocalExpirationTime: l.expiry, BootMode: d.boot,
		RecentEvents: append([]Event(nil), d.events...),
	}
}

// Rotations returns how many times each device rotated, by name.
func (f *Fleet) Rotations() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[string]int, len(f.all))
	for _, d := range f.all {
		out[d.spec.Name] = d.rotations
	}
	return out
}

// Stats returns the fleet counters.
func (f *Fleet) Stats() Stats {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.stats
	s.Failures = make(map[int]int64, len(f.stats.Failures))
	for k, v := range f.stats.Failures {
		s.Failures[k] = v
	}
	return s
}

// Len is the number of devices.
func (f *Fleet) Len() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.all)
}

func (f *Fleet) log(d *device, e Event) {
	if len(d.events) >= f.cfg.MaxEvents {
		d.events = append(d.events[:0], d.events[1:]...)
	}
	d.events = append(d.events, e)
}

func (f *Fleet) fail(d *device, now time.Time, id int, code uint32, msg string) {
	f.stats.Failures[id]++
	f.log(d, Event{ID: id, Time: now, Code: code, Message: msg})
	f.log(d, Event{ID: EventCycleFailed, Time: now, Code: code})
}

func (d *device) newGUID() []byte { return ldapserver.RandomGUID(d.rng) }

// opaque returns n random bytes: the stand-in for the CMS blob. No password exists anywhere.
func (d *device) opaque(n int) []byte {
	b := make([]byte, n)
	for i := 0; i < n; i += 8 {
		v := d.rng.Uint64()
		for j := 0; j < 8 && i+j < n; j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return b
}

func hexFiletime(t time.Time) string { return strconv.FormatInt(adsyntax.TimeToFiletime(t), 16) }

type deviceHeap []*device

func (h deviceHeap) Len() int { return len(h) }
func (h deviceHeap) Less(i, j int) bool {
	if !h[i].next.Equal(h[j].next) {
		return h[i].next.Before(h[j].next)
	}
	return h[i].order < h[j].order
}
func (h deviceHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *deviceHeap) Push(x any) {
	d := x.(*device)
	d.index = len(*h)
	*h = append(*h, d)
}
func (h *deviceHeap) Pop() any {
	old := *h
	d := old[len(old)-1]
	*h = old[:len(old)-1]
	return d
}

// BackedUpAt makes the device's first backup happen as of at (not after the clock's now), as
// on a fleet that has been running for a while: the directory's expiry then falls at at plus
// the password age. A fleet whose backups are spread over one password age rotates at a steady
// daily rate instead of all at once. The directory write itself happens now.
func (f *Fleet) BackedUpAt(name string, at time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, err := f.get(name)
	if err != nil {
		return err
	}
	if at.After(f.clock.Now()) {
		return fmt.Errorf("device %s: a backup as of %s is in the future", name, at.UTC().Format(time.RFC3339))
	}
	if d.rotations > 0 {
		return fmt.Errorf("device %s already backed up", name)
	}
	f.cycle(d, at)
	if d.rotations == 0 {
		return fmt.Errorf("device %s: the backup as of %s did not happen (policy %s, backup directory %s)", name,
			at.UTC().Format(time.RFC3339), d.policy.PolicyRoot, d.policy.BackupDirectory)
	}
	return nil
}
