package evidence

import (
	"testing"
	"time"

	"github.com/fleetlaps/fleetlaps/internal/directory"
)

func TestRotated(t *testing.T) {
	requested := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	req := Request{RequestedAt: requested, PreviousPasswordVersion: "aaaaaaaa-0000-0000-0000-000000000001"}
	cases := map[string]struct {
		rec    directory.DeviceRecord
		req    Request
		wantOK bool
		wantAt time.Time
	}{
		"should accept an update time from replication metadata after the request": {
			rec: directory.DeviceRecord{PasswordUpdateTime: requested.Add(time.Hour), UpdateTimeSource: directory.UpdateTimeReplicationMetadata, CurrentPasswordVersion: req.PreviousPasswordVersion},
			req: req, wantOK: true, wantAt: requested.Add(time.Hour),
		},
		"should accept Entra's stated backup time after the request": {
			rec: directory.DeviceRecord{PasswordUpdateTime: requested.Add(time.Minute), UpdateTimeSource: directory.UpdateTimeDirectory},
			req: Request{RequestedAt: requested}, wantOK: true, wantAt: requested.Add(time.Minute),
		},
		"should refuse an update time at the request itself": {
			rec: directory.DeviceRecord{PasswordUpdateTime: requested, UpdateTimeSource: directory.UpdateTimeReplicationMetadata, CurrentPasswordVersion: req.PreviousPasswordVersion},
			req: req,
		},
		"should accept a stated update time in the request's own second when no version was recorded": {
			rec: directory.DeviceRecord{PasswordUpdateTime: requested, UpdateTimeSource: directory.UpdateTimeReplicationMetadata},
			req: Request{RequestedAt: requested}, wantOK: true, wantAt: requested,
		},
		"should refuse a stated update time before the request when no version was recorded": {
			rec: directory.DeviceRecord{PasswordUpdateTime: requested.Add(-time.Second), UpdateTimeSource: directory.UpdateTimeReplicationMetadata},
			req: Request{RequestedAt: requested},
		},
		"should refuse an update time of unknown origin": {
			rec: directory.DeviceRecord{PasswordUpdateTime: requested.Add(time.Hour), UpdateTimeSource: directory.UpdateTimeUnknown},
			req: Request{RequestedAt: requested},
		},
		"should accept a new version GUID, dated at the request when the update time is older": {
			rec: directory.DeviceRecord{CurrentPasswordVersion: "bbbbbbbb-0000-0000-0000-000000000002", PasswordUpdateTime: requested.Add(-time.Hour), UpdateTimeSource: directory.UpdateTimeReplicationMetadata},
			req: req, wantOK: true, wantAt: requested,
		},
		"should compare version GUIDs without regard to case": {
			rec: directory.DeviceRecord{CurrentPasswordVersion: "AAAAAAAA-0000-0000-0000-000000000001"},
			req: req,
		},
		"should refuse a version change when no version was recorded with the intent": {
			rec: directory.DeviceRecord{CurrentPasswordVersion: "bbbbbbbb-0000-0000-0000-000000000002"},
			req: Request{RequestedAt: requested},
		},
		"should refuse a record that shows nothing new": {
			rec: directory.DeviceRecord{}, req: req,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			at, ok := Rotated(tc.rec, tc.req)
			if ok != tc.wantOK || !at.Equal(tc.wantAt) {
				t.Errorf("Rotated = %v, %v; want %v, %v", at, ok, tc.wantAt, tc.wantOK)
			}
		})
	}
}
