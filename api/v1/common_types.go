package v1

// DirectoryReference names a directory connection configured for the manager (a ConfigMap-mounted
// file, credentials from Secrets). Tenants never supply URLs or credentials in a CR.
type DirectoryReference struct {
	// Name of the directory connection.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Name string `json:"name"`
}

// Condition types shared by all kinds (kstatus).
const (
	// ConditionReady summarises the domain conditions of an object.
	ConditionReady = "Ready"
	// ConditionReconciling is True while the controller is working towards the desired state and
	// absent once it got there.
	ConditionReconciling = "Reconciling"
	// ConditionStalled is True when nothing but a change of spec (or of the manager's
	// configuration) can make progress.
	ConditionStalled = "Stalled"
)

// Annotations understood by the controllers.
const (
	// AnnotationRotateRequestedAt on a ManagedDevice asks for a rotation now: the ManagedDevice
	// controller creates one RotationRequest per distinct value (its reason names the value), then
	// acknowledges it in status.lastRotateAnnotation. Works with `kubectl annotate` and Argo CD
	// resource actions.
	AnnotationRotateRequestedAt = "laps.fleetlaps.io/rotate-requested-at"
	// AnnotationRotateRequestedBy records who set AnnotationRotateRequestedAt, from the
	// authenticated identity at admission (never from the client). The RotationRequest made for
	// the annotation carries it too.
	AnnotationRotateRequestedBy = "laps.fleetlaps.io/rotate-requested-by"
)
