package v1

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// RotationRequestSpec asks for the passwords of some devices to be rotated now. It is immutable.
// +kubebuilder:validation:XValidation:rule="has(self.deviceName) != has(self.deviceSelector)",message="set exactly one of deviceName or deviceSelector"
// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="RotationRequest spec is immutable; create a new RotationRequest instead"
type RotationRequestSpec struct {
	// DeviceName is one ManagedDevice in this namespace.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +optional
	DeviceName string `json:"deviceName,omitempty"`
	// DeviceSelector selects ManagedDevices in this namespace; targets are fixed at creation. It
	// may match at most 10000 devices.
	// +optional
	DeviceSelector *metav1.LabelSelector `json:"deviceSelector,omitempty"`
	// Reason is the audit text: why the rotation is needed.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	Reason string `json:"reason"`
	// Deadline after which devices without evidence of rotation fail. Default: 26 hours after
	// the controller started the request (status.startTime; a device processes its LAPS policy every hour).
	// +optional
	Deadline *metav1.Time `json:"deadline,omitempty"`
	// TTLSecondsAfterFinished deletes the request this long after it succeeded or failed.
	// +kubebuilder:validation:Minimum=0
	// +optional
	TTLSecondsAfterFinished *int32 `json:"ttlSecondsAfterFinished,omitempty"`
	// RequestedBy is set by admission from the creating user's identity; a differing value
	// supplied by the user is rejected.
	// +kubebuilder:validation:MaxLength=512
	// +optional
	RequestedBy string `json:"requestedBy,omitempty"`
}

// RotationPhase is the lifecycle phase of a RotationRequest.
// +kubebuilder:validation:Enum=Pending;InProgress;Succeeded;Failed
type RotationPhase string

const (
	RotationPending    RotationPhase = "Pending"
	RotationInProgress RotationPhase = "InProgress"
	RotationSucceeded  RotationPhase = "Succeeded"
	RotationFailed     RotationPhase = "Failed"
)

// DeviceRotationState is the state of one target device.
// +kubebuilder:validation:Enum=Pending;Requested;Rotated;Failed
type DeviceRotationState string

const (
	// DeviceRotationPending: waiting for a concurrency/rate slot or a maintenance window.
	DeviceRotationPending DeviceRotationState = "Pending"
	// DeviceRotationRequested: intent recorded (and possibly written); waiting for evidence.
	DeviceRotationRequested DeviceRotationState = "Requested"
	// DeviceRotationRotated: the directory shows a new password after the request.
	DeviceRotationRotated DeviceRotationState = "Rotated"
	// DeviceRotationFailed: no evidence before the deadline, or the device cannot rotate.
	DeviceRotationFailed DeviceRotationState = "Failed"
)

// MaxRotationTargets is the most devices one RotationRequest may target. A request whose
// selector matches more is Stalled (TooManyTargets) and writes nothing to any directory: its
// per-device results must fit in one stored object.
const MaxRotationTargets = 10000

// DeviceRotationResult is the outcome for one target device. An entry holds only what its state
// needs, so that a request over thousands of devices stays small: a Pending entry is the device
// and its state (why pending devices wait is in the request's Ready condition); a Requested
// entry carries what the write and the evidence need; a Rotated entry keeps when the write was
// accepted and when the directory showed the new password; a Failed entry keeps its failure.
type DeviceRotationResult struct {
	// Device is the ManagedDevice name.
	Device string `json:"device"`
	// State of the rotation on this device.
	State DeviceRotationState `json:"state"`
	// RequestedAt is when the intent was recorded; the directory write uses this time, so a
	// retried write is identical. Set while Requested; omitted when the write was accepted at
	// the same time (writtenAt is then the request time).
	// +optional
	RequestedAt *metav1.Time `json:"requestedAt,omitempty"`
	// PreviousPasswordVersion is the directory's msLAPS-CurrentPasswordVersion when the intent
	// was recorded; a different version later is evidence of the rotation. Set while Requested,
	// only when the directory does not state when the password was last updated (that time, at
	// or after requestedAt, is the evidence otherwise).
	// +optional
	PreviousPasswordVersion string `json:"previousPasswordVersion,omitempty"`
	// WrittenAt is when the directory accepted the write. Kept once Rotated or Failed.
	// +optional
	WrittenAt *metav1.Time `json:"writtenAt,omitempty"`
	// RotatedAt is when the directory showed the new password.
	// +optional
	RotatedAt *metav1.Time `json:"rotatedAt,omitempty"`
	// LastFailureTime is when the latest directory write failed; the next attempt waits for a
	// backoff that doubles with each failed attempt (1 minute up to 60 minutes).
	// +optional
	LastFailureTime *metav1.Time `json:"lastFailureTime,omitempty"`
	// Attempts counts directory writes tried. Once Rotated it is kept only when more than one
	// write was needed.
	// +optional
	Attempts int32 `json:"attempts,omitempty"`
	// LastAttemptTime is when the latest directory write was claimed, set until the write's
	// outcome is recorded (writtenAt is then the same time). The claim is recorded before the
	// write, so a write whose outcome was never recorded (the controller stopped) is repeated
	// only after the claim expired and a newer directory read shows it is still needed; it also
	// counts against spec.rotation.ratePerMinute across restarts.
	// +optional
	LastAttemptTime *metav1.Time `json:"lastAttemptTime,omitempty"`
	// Message explains what is particular to this device: a failure, a failed write that will
	// be retried, or a write whose outcome is being decided. Empty otherwise.
	// +optional
	Message string `json:"message,omitempty"`
}

// RequestTime is when the rotation of this device was requested: requestedAt, or writtenAt when
// requestedAt was omitted because the write went out at that same time (zero when neither).
func (r *DeviceRotationResult) RequestTime() time.Time {
	if r.RequestedAt != nil {
		return r.RequestedAt.Time
	}
	if r.WrittenAt != nil {
		return r.WrittenAt.Time
	}
	return time.Time{}
}

// RotationRequestStatus is the observed state of a RotationRequest.
type RotationRequestStatus struct {
	// ObservedGeneration is the generation last reconciled to Ready or Stalled.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Conditions: Ready, Reconciling, Stalled.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// Phase of the request.
	// +optional
	Phase RotationPhase `json:"phase,omitempty"`
	// StartTime is when targets were expanded.
	// +optional
	StartTime *metav1.Time `json:"startTime,omitempty"`
	// CompletionTime is when the request succeeded or failed.
	// +optional
	CompletionTime *metav1.Time `json:"completionTime,omitempty"`
	// Results per target device, fixed at expansion and sorted by device name. At most 10000
	// devices: a selector matching more stalls the request (TooManyTargets) before anything is
	// written; split it with narrower selectors.
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=10000
	// +optional
	Results []DeviceRotationResult `json:"results,omitempty"`
	// Targets is the number of devices.
	// +optional
	Targets int32 `json:"targets,omitempty"`
	// Pending, Requested, Rotated and Failed count results by state.
	// +optional
	Pending int32 `json:"pending,omitempty"`
	// +optional
	Requested int32 `json:"requested,omitempty"`
	// +optional
	Rotated int32 `json:"rotated,omitempty"`
	// +optional
	Failed int32 `json:"failed,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=rotreq,categories=laps
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Targets",type=integer,JSONPath=`.status.targets`
// +kubebuilder:printcolumn:name="Rotated",type=integer,JSONPath=`.status.rotated`
// +kubebuilder:printcolumn:name="Failed",type=integer,JSONPath=`.status.failed`
// +kubebuilder:printcolumn:name="Requested By",type=string,JSONPath=`.spec.requestedBy`,priority=1
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.spec.reason`,priority=1
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// RotationRequest asks the controller to rotate the passwords of some devices now. One request
// targets at most 10000 devices; a selector that matches more makes the request Stalled with
// reason TooManyTargets, naming how many devices matched, and nothing is written to any
// directory: split the work into requests with narrower selectors.
type RotationRequest struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   RotationRequestSpec   `json:"spec"`
	Status RotationRequestStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// RotationRequestList is a list of RotationRequest.
type RotationRequestList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []RotationRequest `json:"items"`
}
