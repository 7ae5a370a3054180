package ad

import (
	"context"
	"testing"
	"time"

	"github.com/go-logr/logr"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
	"github.com/fleetlaps/fleetlaps/internal/compliance"
	"github.com/fleetlaps/fleetlaps/internal/directory"
	"github.com/fleetlaps/fleetlaps/internal/policy"
)

// TestSnapshot_whatIsStoredDecidesCompliance reads the Samba DC as the outer permission ring
// does (replication metadata, never a password value) and runs the compliance chain on what it
// found: the drifts a real fleet has get their own reasons instead of "Compliant".
func TestSnapshot_whatIsStoredDecidesCompliance(t *testing.T) {
	d := newDir(t, testConfig(t), logr.Discard())
	snap, err := d.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	m := byName(snap)
	encrypting := policy.Effective(&lapsv1.LapsPolicySpec{BackupDirectory: lapsv1.BackupDirectoryActiveDirectory, PolicyRoot: lapsv1.PolicyRootGroupPolicy})
	legacy := policy.Effective(&lapsv1.LapsPolicySpec{BackupDirectory: lapsv1.BackupDirectoryActiveDirectory, PolicyRoot: lapsv1.PolicyRootLegacyLAPS})
	// Before the fixture's expiries: every stored password is current.
	now := srv.FixtureT0.Add(24 * time.Hour)
	cases := []struct {
		device     string
		settings   policy.Settings
		wantSource directory.PasswordSource
		wantReason string
	}{
		{"fleet-00008", encrypting, directory.SourceNone, compliance.ReasonNoPasswordStored}, // an expiry only
		{specialNever, encrypting, directory.SourceNone, compliance.ReasonNoPasswordStored},  // a "never" expiry only
		{"fleet-00003", encrypting, directory.SourceCleartext, compliance.ReasonCleartextPasswordStored},
		{"fleet-00007", encrypting, directory.SourceLegacy, compliance.ReasonLegacyPasswordStored},
		{"fleet-00005", encrypting, directory.SourceEncrypted, compliance.ReasonNotExpired},
		{"fleet-00007", legacy, directory.SourceLegacy, compliance.ReasonNotExpired},
		{specialLegacyNever, legacy, directory.SourceLegacy, compliance.ReasonNeverExpires},
		{"fleet-00001", encrypting, directory.SourceNone, compliance.ReasonNeverBackedUp},
	}
	for _, tc := range cases {
		r, ok := m[tc.device]
		if !ok {
			t.Fatalf("%s not in the snapshot", tc.device)
		}
		if r.StorageUnknown || r.Source != tc.wantSource {
			t.Errorf("%s: source %q (unknown=%v), want %q read from replication metadata", tc.device, r.Source, r.StorageUnknown, tc.wantSource)
		}
		s := tc.settings
		v := compliance.PasswordCurrent(compliance.Input{Now: now, Directory: "fleet", SnapshotTaken: true, Record: &r, Settings: &s})
		if v.Reason != tc.wantReason {
			t.Errorf("%s under %s: PasswordCurrent %s/%s (%s), want reason %s", tc.device, s.PolicyRoot, v.Status, v.Reason, v.Message, tc.wantReason)
		}
		if tc.wantSource == directory.SourceNone && !r.PasswordUpdateTime.IsZero() {
			t.Errorf("%s: update time %v without a stored password", tc.device, r.PasswordUpdateTime)
		}
	}
	ln := m[specialLegacyNever]
	if !ln.LegacyNeverExpires || !ln.Legacy() || !ln.Managed() || len(ln.BadData) > 0 {
		t.Errorf("legacy never record: %+v", ln)
	}
	if at, never := ln.Expiry(); !never || !at.IsZero() {
		t.Errorf("legacy never expiry = %v, %v; want never", at, never)
	}
}
