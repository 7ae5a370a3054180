package entra

import (
	"context"
	"fmt"
	"slices"
	"strings"

	graphdirectory "github.com/microsoftgraph/msgraph-sdk-go/directory"
	"github.com/microsoftgraph/msgraph-sdk-go/models"

	"github.com/fleetlaps/fleetlaps/internal/directory"
)

// metadataFields is the whole $select of the snapshot: LAPS metadata only. credentials is never
// selected; the ReadBasic permission could not read it anyway.
var metadataFields = []string{"id", "deviceName", "lastBackupDateTime", "refreshDateTime"}

// Snapshot lists deviceLocalCredentials page by page, following @odata.nextLink (a plain loop:
// the SDK's PageIterator loses the error types). Every pass is full: Graph has no delta query
// for this collection, so Removed is exact.
func (b *Backend) Snapshot(ctx context.Context) (*directory.Snapshot, error) {
	top := int32(b.cfg.PageSize)
	builder := graphdirectory.NewDeviceLocalCredentialsRequestBuilderInternal(map[string]string{"baseurl": b.adapter.GetBaseUrl()}, b.adapter)
	cfg := &graphdirectory.DeviceLocalCredentialsRequestBuilderGetRequestConfiguration{
		QueryParameters: &graphdirectory.DeviceLocalCredentialsRequestBuilderGetQueryParameters{Select: metadataFields, Top: &top},
	}
	b.mu.Lock()
	prev := b.last
	managed := make(map[string]string, len(b.managedIDs))
	for k, v := range b.managedIDs {
		managed[k] = v
	}
	b.mu.Unlock()

	snap := &directory.Snapshot{Directory: b.cfg.Name, Full: true, Devices: map[string]directory.DeviceRecord{}}
	if prev != nil {
		snap.Devices = make(map[string]directory.DeviceRecord, len(prev.Devices))
	}
	for page := builder; page != nil; {
		resp, err := page.Get(ctx, cfg)
		snap.RoundTrips++
		if err != nil {
			return nil, b.classify("snapshot", PermLAPSMetadata, err)
		}
		for _, info := range resp.GetValue() {
			rec, ok := recordOf(info)
			if !ok {
				continue
			}
			rec.ManagedDeviceID = managed[rec.Key]
			snap.Devices[rec.Key] = rec
		}
		next := resp.GetOdataNextLink()
		if next == nil || *next == "" {
			break
		}
		// The next link must stay on the connection's Graph endpoint: the token goes only there.
		if !strings.HasPrefix(*next, b.cfg.GraphEndpoint+"/") {
			return nil, directory.NewError(directory.ErrBadData, b.cfg.Name, "snapshot", fmt.Errorf("@odata.nextLink %q leaves the Graph endpoint %s", *next, b.cfg.GraphEndpoint))
		}
		page, cfg = builder.WithUrl(*next), nil
	}
	snap.Taken = b.opts.Now()
	snap.Changed, snap.Removed = diff(prev, snap)
	b.mu.Lock()
	b.last = snap
	b.mu.Unlock()
	return snap, nil
}

// recordOf maps one deviceLocalCredentialInfo: Key = the Entra deviceId (lower case),
// PasswordUpdateTime = lastBackupDateTime (stated by the directory), PasswordExpirationTime =
// refreshDateTime (when the password is due).
func recordOf(info models.DeviceLocalCredentialInfoable) (directory.DeviceRecord, bool) {
	id := info.GetId()
	if id == nil || *id == "" {
		return directory.DeviceRecord{}, false
	}
	rec := directory.DeviceRecord{Key: lower(*id), DeviceID: lower(*id), Source: directory.SourceEntraID}
	if n := info.GetDeviceName(); n != nil {
		rec.Name = *n
	}
	if t := info.GetLastBackupDateTime(); t != nil {
		rec.PasswordUpdateTime, rec.UpdateTimeSource = t.UTC(), directory.UpdateTimeDirectory
	} else {
		rec.BadData = append(rec.BadData, "lastBackupDateTime: missing")
	}
	if t := info.GetRefreshDateTime(); t != nil {
		rec.PasswordExpirationTime = t.UTC()
	}
	return rec, true
}

func diff(prev, cur *directory.Snapshot) (changed, removed []string) {
	for k, r := range cur.Devices {
		if prev == nil {
			changed = append(changed, k)
			continue
		}
		if p, ok := prev.Devices[k]; !ok || !sameRecord(p, r) {
			changed = append(changed, k)
		}
	}
	if prev != nil {
		for k := range prev.Devices {
			if _, ok := cur.Devices[k]; !ok {
				removed = append(removed, k)
			}
		}
	}
	slices.Sort(changed)
	slices.Sort(removed)
	return changed, removed
}

func sameRecord(a, b directory.DeviceRecord) bool {
	return a.Name == b.Name && a.ManagedDeviceID == b.ManagedDeviceID &&
		a.PasswordUpdateTime.Equal(b.PasswordUpdateTime) && a.PasswordExpirationTime.Equal(b.PasswordExpirationTime) &&
		slices.Equal(a.BadData, b.BadData)
}

// inSnapshot returns the record the connection's latest snapshot holds for an Entra deviceId.
func (b *Backend) inSnapshot(key string) (directory.DeviceRecord, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.last == nil {
		return directory.DeviceRecord{}, false
	}
	r, ok := b.last.Devices[lower(key)]
	return r, ok
}
