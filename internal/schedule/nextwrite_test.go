package schedule_test

import (
	"testing"
	"time"

	"github.com/fleetlaps/fleetlaps/internal/schedule"
)

func TestNextWrite(t *testing.T) {
	deadline := t0.Add(time.Hour)
	claim := t0.Add(-time.Minute) // a claim one minute old: not yet expired
	oldClaim := t0.Add(-10 * time.Minute)
	loaded := func(in schedule.WriteInput) schedule.WriteInput {
		in.SnapshotLoaded = true
		if in.SnapshotTaken.IsZero() {
			in.SnapshotTaken = t0.Add(-30 * time.Second)
		}
		return in
	}
	tests := []struct {
		name   string
		in     schedule.WriteInput
		want   schedule.WriteAction
		reason schedule.WaitReason
		retry  time.Time
	}{
		{"first write", loaded(schedule.WriteInput{}), schedule.WriteNow, "", time.Time{}},
		{"deadline passed: never write", loaded(schedule.WriteInput{Deadline: t0}), schedule.WriteTooLate, "", time.Time{}},
		{"deadline passed wins over a rotation", loaded(schedule.WriteInput{Deadline: t0.Add(-time.Second), RotatedSinceIntent: true}), schedule.WriteTooLate, "", time.Time{}},
		{"before the first snapshot: wait", schedule.WriteInput{}, schedule.WriteWait, schedule.WaitFirstRead, t0.Add(schedule.SnapshotRetry)},
		{"before the first snapshot with a claim: wait", schedule.WriteInput{Attempts: 1, LastAttempt: oldClaim}, schedule.WriteWait, schedule.WaitFirstRead, time.Time{}},
		{"rotated since intent (unresolved claim)", loaded(schedule.WriteInput{Attempts: 1, LastAttempt: claim, RotatedSinceIntent: true}), schedule.WriteRotated, "", time.Time{}},
		{"rotated since intent (never claimed)", loaded(schedule.WriteInput{RotatedSinceIntent: true}), schedule.WriteRotated, "", time.Time{}},
		{"claimed and the expiry is in the directory", loaded(schedule.WriteInput{Attempts: 1, LastAttempt: claim, ExpiryWritten: true}), schedule.WriteDone, "", time.Time{}},
		{"failed write, expiry nevertheless in the directory", loaded(schedule.WriteInput{Attempts: 1, LastAttempt: claim, LastFailure: claim, ExpiryWritten: true}), schedule.WriteDone, "", time.Time{}},
		{"never claimed: an old expiry in the past is not our write", loaded(schedule.WriteInput{ExpiryWritten: true}), schedule.WriteNow, "", time.Time{}},
		{"unresolved claim, not expired", loaded(schedule.WriteInput{Attempts: 1, LastAttempt: claim}), schedule.WriteWait, schedule.WaitClaim, claim.Add(schedule.ClaimTTL)},
		{"expired claim, snapshot older than the expiry", loaded(schedule.WriteInput{Attempts: 1, LastAttempt: oldClaim, SnapshotTaken: oldClaim.Add(time.Minute)}), schedule.WriteWait, schedule.WaitNewerRead, time.Time{}},
		{"expired claim, snapshot taken at the expiry is not newer", loaded(schedule.WriteInput{Attempts: 1, LastAttempt: oldClaim, SnapshotTaken: oldClaim.Add(schedule.ClaimTTL)}), schedule.WriteWait, schedule.WaitNewerRead, time.Time{}},
		{"expired claim, newer snapshot still needs it", loaded(schedule.WriteInput{Attempts: 1, LastAttempt: oldClaim}), schedule.WriteNow, "", time.Time{}},
		{"failed write within backoff", loaded(schedule.WriteInput{Attempts: 2, LastAttempt: claim, LastFailure: claim}), schedule.WriteWait, schedule.WaitBackoff, claim.Add(2 * time.Minute)},
		{"failed write after backoff", loaded(schedule.WriteInput{Attempts: 1, LastAttempt: oldClaim, LastFailure: oldClaim}), schedule.WriteNow, "", time.Time{}},
		{"failure older than a newer claim: the claim is unresolved", loaded(schedule.WriteInput{Attempts: 2, LastAttempt: claim, LastFailure: oldClaim}), schedule.WriteWait, schedule.WaitClaim, time.Time{}},
		{"failure recorded before claims existed", loaded(schedule.WriteInput{Attempts: 1, LastFailure: oldClaim}), schedule.WriteNow, "", time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.in.Now = t0
			if tt.in.Deadline.IsZero() {
				tt.in.Deadline = deadline
			}
			got := schedule.NextWrite(tt.in)
			if got.Action != tt.want || got.Reason != tt.reason {
				t.Fatalf("NextWrite = %+v, want %s %q", got, tt.want, tt.reason)
			}
			if got.Action == schedule.WriteWait && !got.RetryAt.After(t0) {
				t.Fatalf("wait without a future retry: %+v", got)
			}
			if !tt.retry.IsZero() && !got.RetryAt.Equal(tt.retry) {
				t.Fatalf("RetryAt %v, want %v", got.RetryAt, tt.retry)
			}
		})
	}
}

// FuzzNextWrite: whatever the recorded state, no write at or after the deadline, none before
// the first snapshot, none while a claim is unexpired, and every wait names a future time.
func FuzzNextWrite(f *testing.F) {
	f.Add(int64(0), int64(3600), true, int64(-30), false, false, int32(0), int64(0), int64(0))
	f.Add(int64(0), int64(3600), true, int64(-30), false, false, int32(1), int64(-60), int64(0))
	f.Add(int64(0), int64(-1), false, int64(0), true, true, int32(3), int64(-600), int64(-600))
	f.Fuzz(func(t *testing.T, now, deadline int64, loaded bool, taken int64, rotated, written bool, attempts int32, attempt, failure int64) {
		at := func(s int64) time.Time {
			if s == 0 {
				return time.Time{}
			}
			return t0.Add(time.Duration(s%(1<<32)) * time.Second)
		}
		in := schedule.WriteInput{Now: t0.Add(time.Duration(now%(1<<32)) * time.Second), Deadline: at(deadline), SnapshotLoaded: loaded,
			SnapshotTaken: at(taken), RotatedSinceIntent: rotated, ExpiryWritten: written, Attempts: attempts, LastAttempt: at(attempt), LastFailure: at(failure)}
		got := schedule.NextWrite(in)
		if got.Action == schedule.WriteNow {
			if !in.Now.Before(in.Deadline) || !loaded || rotated {
				t.Fatalf("write decided for %+v", in)
			}
			if attempts > 0 && !in.LastAttempt.IsZero() && in.Now.Before(in.LastAttempt.Add(schedule.ClaimTTL)) && in.LastFailure.Before(in.LastAttempt) {
				t.Fatalf("write under an unexpired claim: %+v", in)
			}
		}
		if got.Action == schedule.WriteWait && !got.RetryAt.After(in.Now) {
			t.Fatalf("wait without a future retry: %+v -> %+v", in, got)
		}
	})
}
