package entra

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"

	abstractions "github.com/microsoft/kiota-abstractions-go"

	"github.com/fleetlaps/fleetlaps/internal/directory"
)

// RotateAction is the Intune device action that makes a device rotate its LAPS password.
const RotateAction = "rotateLocalAdminPassword"

// clockSkew tolerates the difference between the manager's clock and Intune's when an action's
// startDateTime is compared with the rotation intent.
const clockSkew = 2 * time.Minute

// RequestRotation sends the Intune rotateLocalAdminPassword action for a device, at most once per
// device and intent. The action is not idempotent (each call queues another rotation), and the
// caller may repeat a call whose outcome it never recorded (a crash between the call and its
// status patch), so before calling the backend looks for evidence of an earlier call for the
// same intent at: a rotate action in the managed device's deviceActionResults started at or
// after at, or a lastBackupDateTime after at (the device already rotated). Either makes the call
// a no-op.
//
// The action goes only to the managed device id this backend looked up itself for a device that
// its own latest snapshot holds; a DeviceRef naming another managed device id is refused with
// ErrOutOfScope before any call.
func (b *Backend) RequestRotation(ctx context.Context, dev directory.DeviceRef, at time.Time) error {
	const op = "requestRotation"
	key := lower(dev.Key)
	if _, ok := b.inSnapshot(key); !ok {
		return directory.NewError(directory.ErrOutOfScope, b.cfg.Name, op, fmt.Errorf("device %s is not in the connection's latest snapshot", key))
	}
	managedID, err := b.ManagedDeviceID(ctx, key)
	if err != nil {
		return err
	}
	if dev.ManagedDeviceID != "" && !strings.EqualFold(dev.ManagedDeviceID, managedID) {
		return directory.NewError(directory.ErrOutOfScope, b.cfg.Name, op,
			fmt.Errorf("device %s is managed device %s in Intune, not %s; no action was sent", key, managedID, dev.ManagedDeviceID))
	}
	backup, err := b.lastBackup(ctx, key)
	if err != nil {
		return err
	}
	if backup.After(at) {
		b.log.V(1).Info("rotation already evident: the device backed up after the intent", "device", key, "intent", at, "lastBackup", backup)
		return nil
	}
	started, err := b.rotateActionSince(ctx, managedID, at.Add(-clockSkew))
	if err != nil {
		return err
	}
	if started {
		b.log.V(1).Info("rotation already requested for this intent", "device", key, "intent", at)
		return nil
	}
	ri, err := b.rawRequest(abstractions.POST, "/beta/deviceManagement/managedDevices/"+url.PathEscape(managedID)+"/"+RotateAction, nil, nil)
	if err != nil {
		return directory.NewError(directory.ErrBadData, b.cfg.Name, op, err)
	}
	if err := b.adapter.SendNoContent(ctx, ri, errorMapping); err != nil {
		return b.classify(op, PermRotate, err)
	}
	b.log.Info("rotate action sent", "device", key, "managedDeviceId", managedID, "intent", at)
	return nil
}

// ManagedDeviceID returns the Intune managed device id of an Entra deviceId, looked up once with
// $filter=azureADDeviceId eq '<id>' and cached.
func (b *Backend) ManagedDeviceID(ctx context.Context, deviceID string) (string, error) {
	key := lower(deviceID)
	b.mu.Lock()
	id, ok := b.managedIDs[key]
	b.mu.Unlock()
	if ok {
		return id, nil
	}
	if !guidRE.MatchString(key) {
		return "", directory.NewError(directory.ErrBadData, b.cfg.Name, "findManagedDevice", fmt.Errorf("device id %q is not a GUID", deviceID))
	}
	ri, err := b.rawRequest(abstractions.GET, "/beta/deviceManagement/managedDevices", url.Values{
		"$select": {"id,azureADDeviceId"}, "$filter": {"azureADDeviceId eq '" + key + "'"},
	}, nil)
	if err != nil {
		return "", err
	}
	data, err := b.sendJSON(ctx, ri)
	if err != nil {
		return "", b.classify("findManagedDevice", PermManagedDevices, err)
	}
	var list struct {
		Value []struct {
			ID              string `json:"id"`
			AzureADDeviceID string `json:"azureADDeviceId"`
		} `json:"value"`
	}
	if err := json.Unmarshal(data, &list); err != nil {
		return "", directory.NewError(directory.ErrBadData, b.cfg.Name, "findManagedDevice", err)
	}
	for _, m := range list.Value {
		if strings.EqualFold(m.AzureADDeviceID, key) && m.ID != "" {
			b.mu.Lock()
			b.managedIDs[key] = m.ID
			b.mu.Unlock()
			return m.ID, nil
		}
	}
	return "", directory.NewError(directory.ErrNotFound, b.cfg.Name, "findManagedDevice",
		fmt.Errorf("no Intune-managed device has azureADDeviceId %s (is the device enrolled?)", key))
}

// lastBackup reads one device's lastBackupDateTime (metadata only). Graph documents the
// single-device answer both bare and wrapped in value: both are accepted.
func (b *Backend) lastBackup(ctx context.Context, key string) (time.Time, error) {
	ri, err := b.rawRequest(abstractions.GET, "/v1.0/directory/deviceLocalCredentials/"+url.PathEscape(key), url.Values{"$select": {"id,lastBackupDateTime"}}, nil)
	if err != nil {
		return time.Time{}, err
	}
	data, err := b.sendJSON(ctx, ri)
	if err != nil {
		return time.Time{}, b.classify("readDevice", PermLAPSMetadata, err)
	}
	type info struct {
		ID                 string     `json:"id"`
		LastBackupDateTime *time.Time `json:"lastBackupDateTime"`
	}
	var one struct {
		info
		Value []info `json:"value"`
	}
	if err := json.Unmarshal(data, &one); err != nil {
		return time.Time{}, directory.NewError(directory.ErrBadData, b.cfg.Name, "readDevice", err)
	}
	got := one.info
	if len(one.Value) > 0 {
		got = one.Value[0]
	}
	if !strings.EqualFold(got.ID, key) {
		return time.Time{}, directory.NewError(directory.ErrBadData, b.cfg.Name, "readDevice", fmt.Errorf("asked for device %s, Graph answered %q", key, got.ID))
	}
	if got.LastBackupDateTime == nil {
		return time.Time{}, nil
	}
	return *got.LastBackupDateTime, nil
}

// rotateActionSince says whether the managed device shows a rotate action started at or after
// since that did not fail or get canceled.
func (b *Backend) rotateActionSince(ctx context.Context, managedID string, since time.Time) (bool, error) {
	ri, err := b.rawRequest(abstractions.GET, "/beta/deviceManagement/managedDevices/"+url.PathEscape(managedID), url.Values{"$select": {"id,deviceActionResults"}}, nil)
	if err != nil {
		return false, err
	}
	data, err := b.sendJSON(ctx, ri)
	if err != nil {
		return false, b.classify("readDeviceActions", PermManagedDevices, err)
	}
	var md struct {
		DeviceActionResults []struct {
			ActionName    string     `json:"actionName"`
			ActionState   string     `json:"actionState"`
			StartDateTime *time.Time `json:"startDateTime"`
		} `json:"deviceActionResults"`
	}
	if err := json.Unmarshal(data, &md); err != nil {
		return false, directory.NewError(directory.ErrBadData, b.cfg.Name, "readDeviceActions", err)
	}
	for _, a := range md.DeviceActionResults {
		if !strings.EqualFold(a.ActionName, RotateAction) || a.StartDateTime == nil || a.StartDateTime.Before(since) {
			continue
		}
		switch a.ActionState {
		case "failed", "canceled", "notSupported":
			continue
		}
		return true, nil
	}
	return false, nil
}
