package graphemu

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// RotateAction is the Intune action name a rotation appears under in deviceActionResults.
const RotateAction = "rotateLocalAdminPassword"

// Device is one simulated Entra-joined, Intune-managed Windows device.
type Device struct {
	// ID is the Entra deviceId (deviceLocalCredentialInfo.id, managedDevice.azureADDeviceId).
	ID string
	// Name is the device name.
	Name string
	// ManagedDeviceID is the Intune managed device id.
	ManagedDeviceID string
	// LastBackup is when the device last backed up its password (zero: never; the device is
	// then absent from deviceLocalCredentials).
	LastBackup time.Time
	// AgeDays is the PasswordAgeDays the device runs with (default 30).
	AgeDays int
	// Actions are the device's deviceActionResults.
	Actions []Action
	// Rotations counts the rotate actions the device received.
	Rotations int
}

// Action is one deviceActionResults entry.
type Action struct {
	Name        string
	State       string
	Started     time.Time
	LastUpdated time.Time
}

func (d *Device) refresh() time.Time {
	if d.LastBackup.IsZero() {
		return time.Time{}
	}
	age := d.AgeDays
	if age <= 0 {
		age = 30
	}
	return d.LastBackup.Add(time.Duration(age) * 24 * time.Hour)
}

// AddDevice adds (or replaces) a device.
func (s *Server) AddDevice(d Device) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d.ID = strings.ToLower(d.ID)
	if _, ok := s.devices[d.ID]; !ok {
		s.order = append(s.order, d.ID)
	}
	cp := d
	s.devices[d.ID] = &cp
	if d.ManagedDeviceID != "" {
		s.byManaged[strings.ToLower(d.ManagedDeviceID)] = &cp
	}
}

// AddFleet adds n devices named prefix-00001.. with deterministic ids, each backed up at
// lastBackup, and returns their device ids in order.
func (s *Server) AddFleet(prefix string, n int, lastBackup time.Time) []string {
	ids := make([]string, n)
	for i := range n {
		id := fmt.Sprintf("%08x-0000-4000-8000-%012x", hashPrefix(prefix), i+1)
		s.AddDevice(Device{ID: id, Name: fmt.Sprintf("%s-%05d", prefix, i+1),
			ManagedDeviceID: fmt.Sprintf("%08x-1111-4000-8000-%012x", hashPrefix(prefix), i+1), LastBackup: lastBackup})
		ids[i] = id
	}
	return ids
}

func hashPrefix(p string) uint32 {
	h := uint32(2166136261)
	for i := range len(p) {
		h = (h ^ uint32(p[i])) * 16777619
	}
	return h
}

// RemoveDevice deletes a device (it leaves deviceLocalCredentials).
func (s *Server) RemoveDevice(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id = strings.ToLower(id)
	if d, ok := s.devices[id]; ok {
		delete(s.byManaged, strings.ToLower(d.ManagedDeviceID))
	}
	delete(s.devices, id)
	for i, o := range s.order {
		if o == id {
			s.order = append(s.order[:i], s.order[i+1:]...)
			break
		}
	}
}

// DeviceState returns a copy of a device.
func (s *Server) DeviceState(id string) (Device, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.devices[strings.ToLower(id)]
	if !ok {
		return Device{}, false
	}
	cp := *d
	cp.Actions = append([]Action(nil), d.Actions...)
	return cp, true
}

// CheckIn simulates every device's next check-in at now: a device with a pending rotate action,
// or whose password is due (refreshDateTime reached), backs up a new password (lastBackupDateTime
// = now) and its pending actions become done. It returns how many devices backed up.
func (s *Server) CheckIn(now time.Time) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, id := range s.order {
		d := s.devices[id]
		pending := false
		for i := range d.Actions {
			if d.Actions[i].State == "pending" || d.Actions[i].State == "active" {
				pending = true
				d.Actions[i].State, d.Actions[i].LastUpdated = "done", now
			}
		}
		if pending || (!d.LastBackup.IsZero() && !now.Before(d.refresh())) {
			d.LastBackup = now
			n++
		}
	}
	return n
}

func (s *Server) credentialJSON(d *Device, fields []string) map[string]any {
	out := map[string]any{}
	for _, f := range fields {
		switch f {
		case "id":
			out["id"] = d.ID
		case "devicename":
			out["deviceName"] = d.Name
		case "lastbackupdatetime":
			out["lastBackupDateTime"] = graphTime(d.LastBackup)
		case "refreshdatetime":
			out["refreshDateTime"] = graphTime(d.refresh())
		}
	}
	return out
}

var credentialFields = []string{"id", "deviceName", "lastBackupDateTime", "refreshDateTime"}

// listCredentials: GET /v1.0/directory/deviceLocalCredentials?$select=...&$top=N[&$skiptoken=].
func (s *Server) listCredentials(w http.ResponseWriter, r *http.Request) {
	s.count("listCredentials")
	okSel := s.checkSelect(r, credentialFields...)
	okBody := s.checkNoBody(r)
	if !okSel || !okBody {
		odataError(w, http.StatusBadRequest, "BadRequest", "Request not allowed by the LAPS emulator.")
		return
	}
	if r.URL.Query().Get("$filter") != "" {
		s.violation(r, "a $filter on the snapshot list")
	}
	if !s.requirePermission(w, PermLAPSMetadata) {
		return
	}
	fields := selectFields(r)
	top, skip := pageParams(r, s.opts.MaxPageSize)
	s.mu.Lock()
	var page []map[string]any
	i := skip
	listed := 0
	for ; i < len(s.order) && listed < top; i++ {
		d := s.devices[s.order[i]]
		if d.LastBackup.IsZero() {
			continue
		}
		page = append(page, s.credentialJSON(d, fields))
		listed++
	}
	more := i < len(s.order)
	s.mu.Unlock()
	body := map[string]any{
		"@odata.context": s.ts.URL + "/v1.0/$metadata#directory/deviceLocalCredentials(" + r.URL.Query().Get("$select") + ")",
		"value":          append([]map[string]any{}, page...),
	}
	if more {
		q := url.Values{}
		q.Set("$select", r.URL.Query().Get("$select"))
		q.Set("$top", fmt.Sprint(top))
		q.Set("$skiptoken", fmt.Sprintf("o%d", i))
		body["@odata.nextLink"] = s.ts.URL + "/v1.0/directory/deviceLocalCredentials?" + q.Encode()
	}
	writeJSON(w, http.StatusOK, body)
}

// getCredential: GET /v1.0/directory/deviceLocalCredentials/{deviceId}?$select=...
func (s *Server) getCredential(w http.ResponseWriter, r *http.Request, id string) {
	s.count("getCredential")
	if !s.checkSelect(r, credentialFields...) || !s.checkNoBody(r) {
		odataError(w, http.StatusBadRequest, "BadRequest", "Request not allowed by the LAPS emulator.")
		return
	}
	if !s.requirePermission(w, PermLAPSMetadata) {
		return
	}
	s.mu.Lock()
	d, ok := s.devices[strings.ToLower(id)]
	var obj map[string]any
	if ok && !d.LastBackup.IsZero() {
		obj = s.credentialJSON(d, selectFields(r))
	}
	s.mu.Unlock()
	if obj == nil {
		odataError(w, http.StatusNotFound, "Request_ResourceNotFound", "Resource '"+id+"' does not exist or one of its queried reference-property objects are not present.")
		return
	}
	obj["@odata.context"] = s.ts.URL + "/v1.0/$metadata#directory/deviceLocalCredentials/$entity"
	writeJSON(w, http.StatusOK, obj)
}

var managedDeviceFields = []string{"id", "azureADDeviceId", "deviceName", "deviceActionResults"}

// findManagedDevice: GET /beta/deviceManagement/managedDevices?$filter=azureADDeviceId eq '{id}'
func (s *Server) findManagedDevice(w http.ResponseWriter, r *http.Request) {
	s.count("findManagedDevice")
	if !s.checkSelect(r, managedDeviceFields...) || !s.checkNoBody(r) {
		odataError(w, http.StatusBadRequest, "BadRequest", "Request not allowed by the LAPS emulator.")
		return
	}
	filter := r.URL.Query().Get("$filter")
	id, ok := strings.CutPrefix(filter, "azureADDeviceId eq '")
	id, ok2 := strings.CutSuffix(id, "'")
	if !ok || !ok2 || strings.ContainsAny(id, "' ") {
		s.violation(r, "managed devices are looked up one at a time with $filter=azureADDeviceId eq '<deviceId>', got %q", filter)
		odataError(w, http.StatusBadRequest, "BadRequest", "Invalid filter clause")
		return
	}
	if !s.requirePermission(w, PermManagedDevices) {
		return
	}
	s.mu.Lock()
	var value []map[string]any
	if d, found := s.devices[strings.ToLower(id)]; found && d.ManagedDeviceID != "" {
		value = append(value, s.managedJSON(d, selectFields(r)))
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{
		"@odata.context": s.ts.URL + "/beta/$metadata#deviceManagement/managedDevices",
		"value":          append([]map[string]any{}, value...),
	})
}

func (s *Server) managedJSON(d *Device, fields []string) map[string]any {
	out := map[string]any{}
	for _, f := range fields {
		switch f {
		case "id":
			out["id"] = d.ManagedDeviceID
		case "azureaddeviceid":
			out["azureADDeviceId"] = d.ID
		case "devicename":
			out["deviceName"] = d.Name
		case "deviceactionresults":
			acts := []map[string]any{}
			for _, a := range d.Actions {
				acts = append(acts, map[string]any{"actionName": a.Name, "actionState": a.State,
					"startDateTime": graphTime(a.Started), "lastUpdatedDateTime": graphTime(a.LastUpdated)})
			}
			out["deviceActionResults"] = acts
		}
	}
	return out
}

// getManagedDevice: GET /beta/deviceManagement/managedDevices/{id}?$select=...
func (s *Server) getManagedDevice(w http.ResponseWriter, r *http.Request, id string) {
	s.count("getManagedDevice")
	if !s.checkSelect(r, managedDeviceFields...) || !s.checkNoBody(r) {
		odataError(w, http.StatusBadRequest, "BadRequest", "Request not allowed by the LAPS emulator.")
		return
	}
	if !s.requirePermission(w, PermManagedDevices) {
		return
	}
	s.mu.Lock()
	d, ok := s.byManaged[strings.ToLower(id)]
	var obj map[string]any
	if ok {
		obj = s.managedJSON(d, selectFields(r))
	}
	s.mu.Unlock()
	if obj == nil {
		odataError(w, http.StatusNotFound, "ResourceNotFound", "Resource not found")
		return
	}
	obj["@odata.context"] = s.ts.URL + "/beta/$metadata#deviceManagement/managedDevices/$entity"
	writeJSON(w, http.StatusOK, obj)
}

// rotate: POST /beta/deviceManagement/managedDevices/{id}/rotateLocalAdminPassword, no body, 204.
func (s *Server) rotate(w http.ResponseWriter, r *http.Request, id string) {
	s.count("rotate")
	if !s.checkNoBody(r) {
		odataError(w, http.StatusBadRequest, "BadRequest", "rotateLocalAdminPassword takes no body")
		return
	}
	s.mu.Lock()
	granted := s.perms[PermPrivilegedOps]
	s.mu.Unlock()
	if !granted {
		odataError(w, http.StatusForbidden, "Forbidden", "Application is not authorized to perform this operation. Application must have one of the following scopes: DeviceManagementManagedDevices.PrivilegedOperations.All")
		return
	}
	now := s.opts.Now()
	s.mu.Lock()
	d, ok := s.byManaged[strings.ToLower(id)]
	switch {
	case !ok:
		s.mu.Unlock()
		odataError(w, http.StatusNotFound, "ResourceNotFound", "Resource not found")
		return
	case d.LastBackup.IsZero():
		s.mu.Unlock()
		odataError(w, http.StatusBadRequest, "BadRequest", "The device has not backed up a local administrator password yet.")
		return
	}
	d.Rotations++
	d.Actions = append(d.Actions, Action{Name: RotateAction, State: "pending", Started: now, LastUpdated: now})
	s.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}
