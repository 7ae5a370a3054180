package controllers

import (
	"context"
	"fmt"
	"time"

	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/fleetlaps/fleetlaps/internal/directoryconfig"
	"github.com/fleetlaps/fleetlaps/internal/dirsync"
	"github.com/fleetlaps/fleetlaps/internal/principalcache"
)

// Options configure the whole controller set.
type Options struct {
	Directories *directoryconfig.Set
	// Clock drives reconcilers and sync runnables (tests inject a fake one).
	Clock clock.Clock
	// SyncInterval is --sync-interval (default dirsync.DefaultInterval); a connection's own
	// syncInterval overrides it.
	SyncInterval time.Duration
	// HeartbeatInterval is --heartbeat-interval.
	HeartbeatInterval time.Duration
	// PrincipalCacheTTL is --principal-cache-ttl: how long a resolved
	// adPasswordEncryptionPrincipal is reused per connection (0: no cache).
	PrincipalCacheTTL time.Duration
	// AgentStaleAfter is --agent-stale-after (0: three heartbeat intervals).
	AgentStaleAfter time.Duration
	// Jitter for the sync waits (nil: random).
	Jitter func() float64
	// ManualSync leaves the sync runnables out of the manager; the caller drives SyncOnce
	// (tests that count writes per sync cycle).
	ManualSync bool
	// RequeueScale converts the RequeueAfter the reconcilers compute on Clock (simulated time
	// when Clock is a fast simulated clock) into the real duration controller-runtime waits.
	// Nil: identity. The sync runnables need no scaling: they wait on Clock itself.
	RequeueScale func(time.Duration) time.Duration
	// GroupPolicyResync is how often published Group Policy objects are checked for drift
	// (--group-policy-resync; default DefaultGroupPolicyResync).
	GroupPolicyResync time.Duration
	// DeviceWorkers is --device-workers: ManagedDevices reconciled at once (default
	// DefaultDeviceWorkers).
	DeviceWorkers int
}

// DefaultDeviceWorkers: a device's reconcile mostly waits for its status patch, so a few at once
// keep a 100,000-device start-up wave (one status write each) bounded by the apiserver, not by
// one round trip at a time.
const DefaultDeviceWorkers = 4

// MinScaledRequeue is the shortest real wait ScaleRequeue returns for a positive RequeueAfter,
// so a fast clock cannot turn the reconcilers into a busy loop.
const MinScaledRequeue = 20 * time.Millisecond

// ScaleRequeue wraps r so that a positive RequeueAfter in its results is passed through scale
// (bounded below by MinScaledRequeue). A nil scale returns r unchanged.
func ScaleRequeue(r reconcile.Reconciler, scale func(time.Duration) time.Duration) reconcile.Reconciler {
	if scale == nil {
		return r
	}
	return reconcile.Func(func(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
		res, err := r.Reconcile(ctx, req)
		if res.RequeueAfter > 0 {
			res.RequeueAfter = max(scale(res.RequeueAfter), MinScaledRequeue)
		}
		return res, err
	})
}

// Components are what SetupWithManager built.
type Components struct {
	Store    *dirsync.Store
	Syncers  []*dirsync.Syncer
	Devices  *ManagedDeviceReconciler
	Requests *RotationRequestReconciler
	Policies *LapsPolicyReconciler
}

// SetupWithManager registers the field indexes, one sync runnable per usable directory
// connection, and the three reconcilers.
func SetupWithManager(ctx context.Context, mgr ctrl.Manager, o Options) (*Components, error) {
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	if err := SetupIndexes(ctx, mgr.GetFieldIndexer()); err != nil {
		return nil, fmt.Errorf("controller indexes: %w", err)
	}
	c := &Components{Store: dirsync.NewStore()}
	events := make(chan dirsync.DeviceEvent, 1024)
	for _, e := range o.Directories.Entries() {
		if e.Directory == nil {
			mgr.GetLogger().Info("directory connection has no backend; objects referencing it will be Stalled", "directory", e.Config.Name, "reason", e.Err.Error())
			continue
		}
		interval := e.Config.EffectiveSyncInterval(o.SyncInterval)
		var grace time.Duration
		if e.Config.UnavailableGracePeriod != nil {
			grace = e.Config.UnavailableGracePeriod.Duration
		}
		s := &dirsync.Syncer{
			Directory: e.Directory, Reader: mgr.GetClient(), Writer: mgr.GetClient(), Store: c.Store, Events: events,
			Clock: o.Clock, Interval: interval, Grace: grace, Discovery: e.Config.Discovery, Jitter: o.Jitter,
			Log: mgr.GetLogger().WithName("dirsync"), // SyncOnce adds the "directory" key
		}
		c.Syncers = append(c.Syncers, s)
		if !o.ManualSync {
			if err := mgr.Add(s); err != nil {
				return nil, err
			}
		}
	}
	c.Devices = &ManagedDeviceReconciler{Client: mgr.GetClient(), Clock: o.Clock, Directories: o.Directories, Store: c.Store,
		Recorder: mgr.GetEventRecorder("manageddevice-controller"), HeartbeatInterval: o.HeartbeatInterval, AgentStaleAfter: o.AgentStaleAfter, DeviceEvents: events,
		RequeueScale: o.RequeueScale, Workers: o.DeviceWorkers}
	if c.Devices.Workers <= 0 {
		c.Devices.Workers = DefaultDeviceWorkers
	}
	if err := c.Devices.SetupWithManager(mgr); err != nil {
		return nil, err
	}
	c.Requests = &RotationRequestReconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Clock: o.Clock,
		Directories: o.Directories, Store: c.Store, Recorder: mgr.GetEventRecorder("rotationrequest-controller"), RequeueScale: o.RequeueScale}
	if err := c.Requests.SetupWithManager(mgr); err != nil {
		return nil, err
	}
	c.Policies = &LapsPolicyReconciler{Client: mgr.GetClient(), Clock: o.Clock, Directories: o.Directories,
		Recorder: mgr.GetEventRecorder("lapspolicy-controller"), RequeueScale: o.RequeueScale, Principals: principalcache.New(o.PrincipalCacheTTL),
		GroupPolicyResync: o.GroupPolicyResync}
	if err := c.Policies.SetupWithManager(mgr); err != nil {
		return nil, err
	}
	return c, nil
}
