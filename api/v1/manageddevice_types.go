package v1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ManagedDeviceSpec identifies one Windows endpoint in its directory.
type ManagedDeviceSpec struct {
	// Identity of the device in its directory: exactly one of activeDirectory or entraID.
	Identity DeviceIdentity `json:"identity"`
	// DirectoryRef names the directory connection the device backs its password up to.
	DirectoryRef DirectoryReference `json:"directoryRef"`
}

// DeviceIdentity holds exactly one directory identity.
// +kubebuilder:validation:XValidation:rule="has(self.activeDirectory) != has(self.entraID)",message="identity must set exactly one of activeDirectory or entraID"
type DeviceIdentity struct {
	// ActiveDirectory identity of a domain-joined computer.
	// +optional
	ActiveDirectory *ActiveDirectoryIdentity `json:"activeDirectory,omitempty"`
	// EntraID identity of an Entra-joined device.
	// +optional
	EntraID *EntraIDIdentity `json:"entraID,omitempty"`
}

// ActiveDirectoryIdentity identifies an AD computer object.
type ActiveDirectoryIdentity struct {
	// DistinguishedName of the computer object.
	// +kubebuilder:validation:MinLength=3
	// +kubebuilder:validation:MaxLength=2048
	DistinguishedName string `json:"distinguishedName"`
	// ObjectGUID of the computer object (stable across renames and moves).
	// +kubebuilder:validation:Pattern=`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`
	// +optional
	ObjectGUID string `json:"objectGUID,omitempty"`
	// SAMAccountName of the computer account (NAME$).
	// +kubebuilder:validation:MaxLength=256
	// +optional
	SAMAccountName string `json:"sAMAccountName,omitempty"`
	// DomainController marks a domain controller (DSRM password backup applies).
	// +optional
	DomainController bool `json:"domainController,omitempty"`
}

// EntraIDIdentity identifies an Entra ID device.
type EntraIDIdentity struct {
	// DeviceID is the Entra deviceId (not the object id).
	// +kubebuilder:validation:Pattern=`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`
	DeviceID string `json:"deviceId"`
	// ManagedDeviceID is the Intune managed device id, needed to rotate through Intune.
	// +kubebuilder:validation:Pattern=`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`
	// +optional
	ManagedDeviceID string `json:"managedDeviceId,omitempty"`
}

// PasswordSource is where the directory keeps the current password (Get-LapsADPassword's Source).
// +kubebuilder:validation:Enum=Cleartext;Encrypted;Legacy;EntraID
type PasswordSource string

const (
	PasswordSourceCleartext PasswordSource = "Cleartext"
	PasswordSourceEncrypted PasswordSource = "Encrypted"
	PasswordSourceLegacy    PasswordSource = "Legacy"
	PasswordSourceEntraID   PasswordSource = "EntraID"
)

// EffectivePolicy names the one LapsPolicy in force on a device.
type EffectivePolicy struct {
	// Name of the LapsPolicy.
	Name string `json:"name"`
	// PolicyRoot it is delivered through.
	PolicyRoot PolicyRoot `json:"policyRoot"`
	// Hash of the effective settings: it changes when a setting of the effective policy changes.
	// It is not LapsPolicy status.renderedHash, which hashes the rendered documents.
	// +optional
	Hash string `json:"hash,omitempty"`
}

// AgentStatus is what the endpoint agent last reported about the device itself.
type AgentStatus struct {
	// LastReportTime moves coarsely (like a node lease): at most once per heartbeat interval
	// unless something else changed.
	// +optional
	LastReportTime *metav1.Time `json:"lastReportTime,omitempty"`
	// OSBuild, e.g. 10.0.26100.2033.
	// +kubebuilder:validation:MaxLength=64
	// +optional
	OSBuild string `json:"osBuild,omitempty"`
	// ActivePolicyRoot is the root Windows LAPS reports in effect.
	// +optional
	ActivePolicyRoot PolicyRoot `json:"activePolicyRoot,omitempty"`
	// AppliedPolicyHash is the hash of the LAPS settings the device applied, over the registry
	// values of its active policy root (the same hash the controller computes over the values
	// the effective LapsPolicy renders to; PolicyApplied compares the two).
	// +kubebuilder:validation:MaxLength=64
	// +optional
	AppliedPolicyHash string `json:"appliedPolicyHash,omitempty"`
	// LastSequence is the sequence number of the report last written here. Reports must carry
	// a higher one; the report API keeps newer ones in memory between writes.
	// +kubebuilder:validation:Minimum=0
	// +optional
	LastSequence int64 `json:"lastSequence,omitempty"`
	// LocalPasswordVersion is the device's LastPasswordVersion GUID (image rollback detection).
	// +kubebuilder:validation:MaxLength=64
	// +optional
	LocalPasswordVersion string `json:"localPasswordVersion,omitempty"`
	// LocalExpirationTime is the expiry the device keeps locally.
	// +optional
	LocalExpirationTime *metav1.Time `json:"localExpirationTime,omitempty"`
	// BootMode: Normal, SafeMode or DSRM.
	// +kubebuilder:validation:Enum=Normal;SafeMode;DSRM
	// +optional
	BootMode string `json:"bootMode,omitempty"`
	// RecentEvents from the Microsoft-Windows-LAPS/Operational channel, newest first: the newest
	// of each event ID.
	// +kubebuilder:validation:MaxItems=20
	// +listType=atomic
	// +optional
	RecentEvents []AgentEvent `json:"recentEvents,omitempty"`
}

// AgentEvent is one LAPS event seen on the device.
type AgentEvent struct {
	// ID is the event id, e.g. 10027.
	ID int32 `json:"id"`
	// Time the event was logged.
	Time metav1.Time `json:"time"`
	// ResultCode is the event's error or result code (e.g. an HRESULT), 0 when it has none.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=4294967295
	// +optional
	ResultCode int64 `json:"resultCode,omitempty"`
	// Message, shortened by the agent; never contains a password.
	// +kubebuilder:validation:MaxLength=512
	// +optional
	Message string `json:"message,omitempty"`
}

// ManagedDeviceStatus is everything Get-LapsADPassword / Get-LapsAADPassword show, except the
// password, plus the controller's view of rotation and compliance.
type ManagedDeviceStatus struct {
	// ObservedGeneration is the generation last reconciled to Ready or Stalled.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Conditions: Ready, Reconciling, Stalled, PolicyApplied, PasswordCurrent, Rotating,
	// RollbackDetected, AgentReporting, PolicyCompatible.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// EffectivePolicy is the one LapsPolicy in force.
	// +optional
	EffectivePolicy *EffectivePolicy `json:"effectivePolicy,omitempty"`
	// ConflictingPolicies also select the device but lose to the effective one.
	// +listType=atomic
	// +optional
	ConflictingPolicies []string `json:"conflictingPolicies,omitempty"`
	// Account is the managed local account name.
	// +optional
	Account string `json:"account,omitempty"`
	// PasswordUpdateTime is when the current password was backed up.
	// +optional
	PasswordUpdateTime *metav1.Time `json:"passwordUpdateTime,omitempty"`
	// PasswordUpdateTimeSource says how the update time was obtained (the controller cannot read
	// password attributes): ReplicationMetadata (when the password attribute last changed) or
	// Directory (the directory states it). Empty with no update time when the directory shows none.
	// +optional
	PasswordUpdateTimeSource string `json:"passwordUpdateTimeSource,omitempty"`
	// PasswordExpirationTime is the directory's expiry (msLAPS-PasswordExpirationTime,
	// Entra refreshDateTime).
	// +optional
	PasswordExpirationTime *metav1.Time `json:"passwordExpirationTime,omitempty"`
	// PasswordNeverExpires is true when the directory's expiry (msLAPS-PasswordExpirationTime, or
	// ms-Mcs-AdmPwdExpirationTime for legacy LAPS) holds Active Directory's "never" value.
	// +optional
	PasswordNeverExpires bool `json:"passwordNeverExpires,omitempty"`
	// NextRotationTime is when the device is expected to rotate next.
	// +optional
	NextRotationTime *metav1.Time `json:"nextRotationTime,omitempty"`
	// CurrentPasswordVersion is msLAPS-CurrentPasswordVersion (AD), a GUID.
	// +optional
	CurrentPasswordVersion string `json:"currentPasswordVersion,omitempty"`
	// Source is where the directory keeps the password.
	// +optional
	Source PasswordSource `json:"source,omitempty"`
	// AuthorizedDecryptor is the SID that may decrypt the password (from the blob header).
	// +optional
	AuthorizedDecryptor string `json:"authorizedDecryptor,omitempty"`
	// HistorySize is the number of encrypted history entries kept.
	// +optional
	HistorySize int32 `json:"historySize,omitempty"`
	// LastRotationRequest names the newest RotationRequest that targeted the device.
	// +optional
	LastRotationRequest string `json:"lastRotationRequest,omitempty"`
	// LastRotateAnnotation is the last laps.fleetlaps.io/rotate-requested-at value acted on.
	// +optional
	LastRotateAnnotation string `json:"lastRotateAnnotation,omitempty"`
	// FailedRotationAttempts since the last successful rotation.
	// +optional
	FailedRotationAttempts int32 `json:"failedRotationAttempts,omitempty"`
	// LastFailureTime of a rotation attempt.
	// +optional
	LastFailureTime *metav1.Time `json:"lastFailureTime,omitempty"`
	// Agent is what the endpoint agent reports.
	// +optional
	Agent *AgentStatus `json:"agent,omitempty"`
}

// ManagedDevice condition types (besides Ready/Reconciling/Stalled).
const (
	// ConditionPolicyApplied: exactly one LapsPolicy is effective.
	ConditionPolicyApplied = "PolicyApplied"
	// ConditionPasswordCurrent: False once the password expired and was not rotated.
	ConditionPasswordCurrent = "PasswordCurrent"
	// ConditionRotating: a rotation was requested and its evidence is awaited (the hand-off
	// between the RotationRequest and ManagedDevice controllers).
	ConditionRotating = "Rotating"
	// ConditionRollbackDetected is abnormal-true: the directory's version GUID differs from the
	// device's local one (image rollback, seed 001).
	ConditionRollbackDetected = "RollbackDetected"
	// ConditionAgentReporting: the endpoint agent reported recently.
	ConditionAgentReporting = "AgentReporting"
	// ConditionPolicyCompatible: the device's OS build supports the chosen values (older builds
	// silently fall back to defaults, seed 002).
	ConditionPolicyCompatible = "PolicyCompatible"
)

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=mdev,categories=laps
// +kubebuilder:printcolumn:name="Account",type=string,JSONPath=`.status.account`
// Expiry is in the future, which a date column cannot show (kubectl prints <invalid>): print
// the timestamps themselves.
// +kubebuilder:printcolumn:name="Expires",type=string,JSONPath=`.status.passwordExpirationTime`
// +kubebuilder:printcolumn:name="Last Rotation",type=string,JSONPath=`.status.passwordUpdateTime`
// +kubebuilder:printcolumn:name="Policy",type=string,JSONPath=`.status.effectivePolicy.name`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// ManagedDevice is one Windows endpoint whose LAPS state the controller tracks.
type ManagedDevice struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   ManagedDeviceSpec   `json:"spec"`
	Status ManagedDeviceStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// ManagedDeviceList is a list of ManagedDevice.
type ManagedDeviceList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ManagedDevice `json:"items"`
}
