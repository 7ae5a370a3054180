package main

// The manager's baseline permissions; each reconciler adds its own markers next to its code.
// `make manifests` turns them into config/rbac/role.yaml.

// +kubebuilder:rbac:groups=laps.fleetlaps.io,resources=lapspolicies;manageddevices;rotationrequests,verbs=get;list;watch
// +kubebuilder:rbac:groups=laps.fleetlaps.io,resources=lapspolicies/status;manageddevices/status;rotationrequests/status,verbs=get;update;patch
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
