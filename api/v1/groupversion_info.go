// Package v1 contains the laps.fleetlaps.io/v1 API: LapsPolicy, ManagedDevice and
// RotationRequest.
// +kubebuilder:object:generate=true
// +groupName=laps.fleetlaps.io
package v1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the group and version of these objects.
	GroupVersion = schema.GroupVersion{Group: "laps.fleetlaps.io", Version: "v1"}

	// SchemeBuilder registers the types with a runtime.Scheme (apimachinery's builder, so the
	// API package needs no controller-runtime).
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds the types of this group-version to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion,
		&LapsPolicy{}, &LapsPolicyList{},
		&ManagedDevice{}, &ManagedDeviceList{},
		&RotationRequest{}, &RotationRequestList{},
	)
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
