package dirsync

import (
	"context"

	"sigs.k8s.io/controller-runtime/pkg/client"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
)

const (
	// IndexDirectory indexes ManagedDevices by spec.directoryRef.name.
	IndexDirectory = "laps.fleetlaps.io/directory"
	// IndexDirectoryKey indexes ManagedDevices by "<directory>/guid:<objectGUID>",
	// "<directory>/dn:<lower-case DN>" and "<directory>/id:<Entra deviceId>".
	IndexDirectoryKey = "laps.fleetlaps.io/directory-key"
)

// FieldIndexer is the part of manager.Manager's FieldIndexer we need.
type FieldIndexer interface {
	IndexField(ctx context.Context, obj client.Object, field string, extract client.IndexerFunc) error
}

// SetupIndexes registers the ManagedDevice field indexes.
func SetupIndexes(ctx context.Context, idx FieldIndexer) error {
	if err := idx.IndexField(ctx, &lapsv1.ManagedDevice{}, IndexDirectory, IndexByDirectory); err != nil {
		return err
	}
	return idx.IndexField(ctx, &lapsv1.ManagedDevice{}, IndexDirectoryKey, IndexByDirectoryKey)
}

// IndexByDirectory extracts IndexDirectory.
func IndexByDirectory(o client.Object) []string {
	d := o.(*lapsv1.ManagedDevice)
	return []string{d.Spec.DirectoryRef.Name}
}

// IndexByDirectoryKey extracts IndexDirectoryKey.
func IndexByDirectoryKey(o client.Object) []string {
	d := o.(*lapsv1.ManagedDevice)
	return Keys(d.Spec.DirectoryRef.Name, d.Spec.Identity)
}
