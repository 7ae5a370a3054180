package schedule

import "time"

// ClaimTTL is how long a claimed directory write may still be under way. A write runs under a
// context bounded by WriteTimeout (less than ClaimTTL), so once a claim is older than ClaimTTL
// its write has either landed or never will, and a directory read taken after that shows which.
const ClaimTTL = 2 * time.Minute

// WriteTimeout bounds one directory write (dial, bind, modify, reconnects).
const WriteTimeout = ClaimTTL / 2

// WriteInput is what decides the directory write of one device of a RotationRequest whose
// intent is recorded and whose write is not acknowledged (no writtenAt).
type WriteInput struct {
	Now      time.Time
	Deadline time.Time
	// SnapshotLoaded: the connection has a snapshot. SnapshotTaken is when it was read.
	SnapshotLoaded bool
	SnapshotTaken  time.Time
	// RotatedSinceIntent: the snapshot shows a password newer than the recorded intent.
	RotatedSinceIntent bool
	// ExpiryWritten: the snapshot shows the expiry the write sets (at or before requestedAt),
	// for directories where the write is setting the expiry (Active Directory).
	ExpiryWritten bool
	// Attempts, LastAttempt and LastFailure are the recorded claim: how many writes were
	// claimed, when the latest was, and when the latest failed (zero: none failed).
	Attempts    int32
	LastAttempt time.Time
	LastFailure time.Time
}

// WriteAction is what to do with the write.
type WriteAction string

const (
	// WriteNow: claim the write (attempts+1, lastAttemptTime=now, durably, with a
	// resourceVersion precondition) and then write.
	WriteNow WriteAction = "Write"
	// WriteWait: do nothing now; ask again at RetryAt.
	WriteWait WriteAction = "Wait"
	// WriteDone: the directory already holds the write; record it as written.
	WriteDone WriteAction = "AlreadyWritten"
	// WriteRotated: the device rotated since the intent; the request's goal is met.
	WriteRotated WriteAction = "Rotated"
	// WriteTooLate: the request's deadline passed; never write.
	WriteTooLate WriteAction = "DeadlinePassed"
)

// WaitReason says why a WriteWait waits.
type WaitReason string

const (
	WaitNone      WaitReason = ""
	WaitFirstRead WaitReason = "FirstRead"
	WaitBackoff   WaitReason = "Backoff"
	WaitClaim     WaitReason = "ClaimUnexpired"
	WaitNewerRead WaitReason = "NewerRead"
)

// claimRecheckWait is how often an expired claim looks for a directory read newer than it.
const claimRecheckWait = 10 * time.Second

// WriteDecision is the outcome of NextWrite.
type WriteDecision struct {
	Action  WriteAction
	Reason  WaitReason
	RetryAt time.Time
}

// NextWrite decides a device's directory write after a crash, a replay, a conflict or a normal
// pass alike, in this order:
//
//  1. at or after the deadline: never write;
//  2. before the connection's first snapshot: wait (nothing is known about the device);
//  3. the snapshot shows a rotation since the intent: done, no write;
//  4. a claimed write whose expiry the snapshot already shows: done, no write;
//  5. a failed write: wait for Backoff(attempts, lastFailure);
//  6. a claim with no recorded outcome (the controller stopped, or its status patch was
//     refused): wait until the claim expired and a snapshot taken after that still shows the
//     write is needed;
//  7. otherwise write.
func NextWrite(in WriteInput) WriteDecision {
	if !in.Now.Before(in.Deadline) {
		return WriteDecision{Action: WriteTooLate}
	}
	if !in.SnapshotLoaded {
		return WriteDecision{Action: WriteWait, Reason: WaitFirstRead, RetryAt: in.Now.Add(SnapshotRetry)}
	}
	if in.RotatedSinceIntent {
		return WriteDecision{Action: WriteRotated}
	}
	claimed := in.Attempts > 0 && !in.LastAttempt.IsZero()
	if claimed && in.ExpiryWritten {
		return WriteDecision{Action: WriteDone}
	}
	failed := !in.LastFailure.IsZero() && (!claimed || !in.LastFailure.Before(in.LastAttempt))
	if failed {
		if next := Backoff(in.Attempts, in.LastFailure); in.Now.Before(next) {
			return WriteDecision{Action: WriteWait, Reason: WaitBackoff, RetryAt: next}
		}
		return WriteDecision{Action: WriteNow}
	}
	if claimed {
		expires := in.LastAttempt.Add(ClaimTTL)
		if in.Now.Before(expires) {
			return WriteDecision{Action: WriteWait, Reason: WaitClaim, RetryAt: expires}
		}
		if !in.SnapshotTaken.After(expires) {
			return WriteDecision{Action: WriteWait, Reason: WaitNewerRead, RetryAt: in.Now.Add(claimRecheckWait)}
		}
	}
	return WriteDecision{Action: WriteNow}
}
