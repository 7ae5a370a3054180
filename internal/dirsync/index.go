package dirsync

import (
	"context"

	"sigs.k8s.io/controller-runtime/pkg/client"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
)

const (
	// IndexDirectory indexes ManagedDevices by spec.directoryRef.name.
	IndexDirectory = "laps.fleetlaps.io/directory"
)

// FieldIndexer is the part of manager.Manager's FieldIndexer we need.
type FieldIndexer interface {
	IndexField(ctx context.Context, obj client.Object, field string, extract client.IndexerFunc) error
}

// SetupIndexes registers the ManagedDevice field index. There is no index by identity: a sync
// pass lists the directory's devices once and matches their Keys against the changed records, so
// an index would cost the cache one set per key and device (about 1 KiB per device) for nothing.
func SetupIndexes(ctx context.Context, idx FieldIndexer) error {
	return idx.IndexField(ctx, &lapsv1.ManagedDevice{}, IndexDirectory, IndexByDirectory)
}

// IndexByDirectory extracts IndexDirectory.
func IndexByDirectory(o client.Object) []string {
	d := o.(*lapsv1.ManagedDevice)
	return []string{d.Spec.DirectoryRef.Name}
}
