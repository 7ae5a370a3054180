// Package v1 contains the laps.fleetlaps.io/v1 API: LapsPolicy, ManagedDevice and
// RotationRequest.
// +kubebuilder:object:generate=true
// +groupName=laps.fleetlaps.io
package v1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the group and version of these objects.
	GroupVersion = schema.GroupVersion{Group: "laps.fleetlaps.io", Version: "v1"}

	// SchemeBuilder registers the types with a runtime.Scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the types of this group-version to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
