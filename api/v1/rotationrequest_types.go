package v1

import (
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
	// DeviceSelector selects ManagedDevices in this namespace; targets are fixed at creation.
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

// DeviceRotationResult is the outcome for one target device.
type DeviceRotationResult struct {
	// Device is the ManagedDevice name.
	Device string `json:"device"`
	// State of the rotation on this device.
	State DeviceRotationState `json:"state"`
	// RequestedAt is when the intent was recorded; the directory write uses this time, so a
	// retried write is identical.
	// +optional
	RequestedAt *metav1.Time `json:"requestedAt,omitempty"`
	// PreviousPasswordVersion is the directory's msLAPS-CurrentPasswordVersion when the intent
	// was recorded; a different version later is evidence of the rotation.
	// +optional
	PreviousPasswordVersion string `json:"previousPasswordVersion,omitempty"`
	// WrittenAt is when the directory accepted the write.
	// +optional
	WrittenAt *metav1.Time `json:"writtenAt,omitempty"`
	// RotatedAt is when the directory showed the new password.
	// +optional
	RotatedAt *metav1.Time `json:"rotatedAt,omitempty"`
	// LastFailureTime is when the latest directory write failed; the next attempt waits
	// schedule.Backoff(attempts, lastFailureTime).
	// +optional
	LastFailureTime *metav1.Time `json:"lastFailureTime,omitempty"`
	// Attempts counts directory writes tried.
	// +optional
	Attempts int32 `json:"attempts,omitempty"`
	// LastAttemptTime is when the latest directory write was claimed. The claim is recorded
	// before the write, so a write whose outcome was never recorded (the controller stopped)
	// is repeated only after the claim expired and a newer directory read shows it is still
	// needed; it also counts against spec.rotation.ratePerMinute across restarts.
	// +optional
	LastAttemptTime *metav1.Time `json:"lastAttemptTime,omitempty"`
	// Message explains the state.
	// +optional
	Message string `json:"message,omitempty"`
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
	// Results per target device, fixed at expansion.
	// +listType=map
	// +listMapKey=device
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

// RotationRequest asks the controller to rotate the passwords of some devices now.
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
