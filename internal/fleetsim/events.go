package fleetsim

import "time"

// Event IDs of the Microsoft-Windows-LAPS/Operational channel the simulator logs
// (LAPS-REFERENCE.md §3).
const (
	EventCycleStarted           = 10003
	EventCycleSucceeded         = 10004
	EventCycleFailed            = 10005
	EventADQueryFailed          = 10011
	EventPasswordNeedsUpdate    = 10015
	EventADUpdateFailed         = 10017
	EventStoredInAD             = 10018
	EventLocalPasswordUpdated   = 10020
	EventPolicyAD               = 10021
	EventPolicyEntra            = 10022
	EventPolicyLegacy           = 10023
	EventComplexityUnachievable = 10027
	EventStoredInEntra          = 10029
	EventEntraUpdateFailed      = 10028
	EventManagedSignIn          = 10041
	EventGracePeriodOver        = 10042
	EventPostAuthResetFailed    = 10043
	EventPostAuthResetDone      = 10044
)

// Codes the simulator puts on events.
const (
	// ReasonRollback is the 10015 reason for an image rollback (version GUID mismatch).
	ReasonRollback uint32 = 0x4000
	// Error codes on 10005 (HRESULTs): the directory did not answer, access denied, and a
	// password that does not meet the local length/complexity policy.
	CodeServerDown          uint32 = 0x8007203A
	CodeAccessDenied        uint32 = 0x80070005
	CodePasswordRestriction uint32 = 0x8007052D
)

// Event is one entry of a device's LAPS event log.
type Event struct {
	ID   int       `json:"id"`
	Time time.Time `json:"time"`
	// Code is the reason (10015) or error code (10005 and failure events); 0 when none.
	Code    uint32 `json:"code,omitempty"`
	Message string `json:"message,omitempty"`
}
