// Package directorytest provides a recording, in-memory directory.Directory for reconciler
// tests: it holds device records, records every call, and can be told to fail.
package directorytest

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"time"

	"github.com/fleetlaps/fleetlaps/internal/directory"
)

// Call is one recorded call on the fake.
type Call struct {
	Op     string
	Device directory.DeviceRef
	At     time.Time
	Arg    string
}

// Fake is a recording directory.Directory backed by a map. The zero value is not usable: call New.
type Fake struct {
	name string
	typ  directory.Type

	mu         sync.Mutex
	devices    map[string]directory.DeviceRecord
	previous   map[string]directory.DeviceRecord
	principals map[string]string
	published  map[string]directory.PublishedRef
	schema     directory.SchemaReport
	calls      []Call
	// failures maps an op name ("snapshot", "requestRotation", "resolvePrincipal",
	// "checkSchema", "publishPolicy", "withdrawPolicy") to the error it returns next.
	failures map[string]error
	// now stamps snapshots; tests inject their clock.
	now func() time.Time
}

// New returns an empty fake directory of the given type.
func New(name string, typ directory.Type, now func() time.Time) *Fake {
	if now == nil {
		now = time.Now
	}
	return &Fake{
		name:       name,
		typ:        typ,
		devices:    map[string]directory.DeviceRecord{},
		principals: map[string]string{},
		published:  map[string]directory.PublishedRef{},
		failures:   map[string]error{},
		now:        now,
	}
}

var (
	_ directory.Directory       = (*Fake)(nil)
	_ directory.PolicyPublisher = (*Fake)(nil)
)

func (f *Fake) Name() string         { return f.name }
func (f *Fake) Type() directory.Type { return f.typ }
func (f *Fake) Close() error         { return nil }

// Put adds or replaces a device record.
func (f *Fake) Put(r directory.DeviceRecord) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.devices[r.Key] = r
}

// Update changes a device record in place; it returns false when the key is unknown.
func (f *Fake) Update(key string, change func(*directory.DeviceRecord)) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.devices[key]
	if !ok {
		return false
	}
	change(&r)
	f.devices[key] = r
	return true
}

// Get returns a device record.
func (f *Fake) Get(key string) (directory.DeviceRecord, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.devices[key]
	return r, ok
}

// Delete removes a device record.
func (f *Fake) Delete(key string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.devices, key)
}

// AddPrincipal makes ResolvePrincipal answer sid for name.
func (f *Fake) AddPrincipal(name, sid string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.principals[name] = sid
}

// SetSchema sets what CheckSchema reports.
func (f *Fake) SetSchema(r directory.SchemaReport) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.schema = r
}

// FailNext makes the next call of op return err.
func (f *Fake) FailNext(op string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failures[op] = err
}

// FailAlways makes every call of op return err until Recover(op).
func (f *Fake) FailAlways(op string, err error) {
	f.FailNext(op, stickyError{err})
}

// Recover clears an injected failure.
func (f *Fake) Recover(op string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.failures, op)
}

type stickyError struct{ error }

func (s stickyError) Unwrap() error { return s.error }

// Calls returns a copy of the recorded calls.
func (f *Fake) Calls() []Call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// CallsOf returns the recorded calls of one op.
func (f *Fake) CallsOf(op string) []Call {
	var out []Call
	for _, c := range f.Calls() {
		if c.Op == op {
			out = append(out, c)
		}
	}
	return out
}

// Published returns what PublishPolicy stored, by policy name.
func (f *Fake) Published() map[string]directory.PublishedRef {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[string]directory.PublishedRef, len(f.published))
	for k, v := range f.published {
		out[k] = v
	}
	return out
}

// record appends a call and returns the injected failure for op, if any. Caller holds mu.
func (f *Fake) record(c Call) error {
	f.calls = append(f.calls, c)
	err, ok := f.failures[c.Op]
	if !ok {
		return nil
	}
	if s, sticky := err.(stickyError); sticky {
		return s.error
	}
	delete(f.failures, c.Op)
	return err
}

func (f *Fake) Snapshot(context.Context) (*directory.Snapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record(Call{Op: "snapshot"}); err != nil {
		return nil, err
	}
	snap := &directory.Snapshot{
		Directory:  f.name,
		Taken:      f.now(),
		Full:       true,
		Devices:    make(map[string]directory.DeviceRecord, len(f.devices)),
		RoundTrips: 1,
	}
	for k, r := range f.devices {
		r.BadData = slices.Clone(r.BadData)
		snap.Devices[k] = r
		if old, ok := f.previous[k]; !ok || !recordsEqual(old, r) {
			snap.Changed = append(snap.Changed, k)
		}
	}
	for k := range f.previous {
		if _, ok := f.devices[k]; !ok {
			snap.Removed = append(snap.Removed, k)
		}
	}
	slices.Sort(snap.Changed)
	slices.Sort(snap.Removed)
	f.previous = snap.Devices
	return snap, nil
}

func recordsEqual(a, b directory.DeviceRecord) bool { return reflect.DeepEqual(a, b) }

// RequestRotation records the call and, like AD, sets the device's expiration time to at.
func (f *Fake) RequestRotation(_ context.Context, device directory.DeviceRef, at time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record(Call{Op: "requestRotation", Device: device, At: at}); err != nil {
		return err
	}
	r, ok := f.devices[device.Key]
	if !ok {
		return directory.NewError(directory.ErrNotFound, f.name, "requestRotation", fmt.Errorf("device %q", device.Key))
	}
	if device.Legacy {
		r.LegacyExpirationTime = at
	} else {
		r.PasswordExpirationTime = at
		r.PasswordNeverExpires = false
	}
	f.devices[device.Key] = r
	return nil
}

func (f *Fake) ResolvePrincipal(_ context.Context, name string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record(Call{Op: "resolvePrincipal", Arg: name}); err != nil {
		return "", err
	}
	sid, ok := f.principals[name]
	if !ok {
		return "", directory.NewError(directory.ErrNotFound, f.name, "resolvePrincipal", fmt.Errorf("principal %q", name))
	}
	return sid, nil
}

func (f *Fake) CheckSchema(context.Context) (directory.SchemaReport, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record(Call{Op: "checkSchema"}); err != nil {
		return directory.SchemaReport{}, err
	}
	return f.schema, nil
}

func (f *Fake) PublishPolicy(_ context.Context, name string, document []byte) (directory.PublishedRef, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record(Call{Op: "publishPolicy", Arg: name}); err != nil {
		return directory.PublishedRef{}, err
	}
	ref := directory.PublishedRef{ID: "fake-" + name, Hash: fmt.Sprintf("%x", len(document))}
	f.published[name] = ref
	return ref, nil
}

func (f *Fake) WithdrawPolicy(_ context.Context, ref directory.PublishedRef) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record(Call{Op: "withdrawPolicy", Arg: ref.ID}); err != nil {
		return err
	}
	for k, v := range f.published {
		if v.ID == ref.ID {
			delete(f.published, k)
		}
	}
	return nil
}
