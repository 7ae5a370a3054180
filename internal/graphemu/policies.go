package graphemu

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Policy is one settings-catalog configuration policy held by the emulated tenant.
type Policy struct {
	ID          string
	Name        string
	Description string
	// Body is the last created or patched JSON.
	Body []byte
	// GroupIDs are the groups of its last assignment.
	GroupIDs []string
	Modified time.Time
	Updates  int
}

// Policies returns copies of every configuration policy.
func (s *Server) Policies() []Policy {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Policy
	for _, p := range s.policies {
		cp := *p
		cp.GroupIDs = append([]string(nil), p.GroupIDs...)
		out = append(out, cp)
	}
	return out
}

// AddForeignPolicy adds a policy someone else made (the controller must leave it alone).
func (s *Server) AddForeignPolicy(name, description string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := newID()
	s.policies[id] = &Policy{ID: id, Name: name, Description: description, Modified: s.opts.Now()}
	return id
}

func (s *Server) readPolicyBody(w http.ResponseWriter, r *http.Request) (map[string]any, []byte, bool) {
	b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		odataError(w, http.StatusBadRequest, "BadRequest", err.Error())
		return nil, nil, false
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		s.violation(r, "settings-catalog body is not JSON: %v", err)
		odataError(w, http.StatusBadRequest, "BadRequest", "Unable to read JSON request payload.")
		return nil, nil, false
	}
	if problems := CheckSettingsCatalog(doc); len(problems) > 0 {
		s.violation(r, "settings-catalog body differs from the LAPS template: %s", strings.Join(problems, "; "))
		odataError(w, http.StatusBadRequest, "BadRequest", "Invalid setting definition or template reference.")
		return nil, nil, false
	}
	return doc, b, true
}

func (s *Server) createPolicy(w http.ResponseWriter, r *http.Request) {
	s.count("createPolicy")
	if !s.requirePermission(w, PermConfiguration) {
		return
	}
	doc, raw, ok := s.readPolicyBody(w, r)
	if !ok {
		return
	}
	now := s.opts.Now()
	p := &Policy{ID: newID(), Name: str(doc["name"]), Description: str(doc["description"]), Body: raw, Modified: now}
	s.mu.Lock()
	s.policies[p.ID] = p
	s.mu.Unlock()
	out := map[string]any{"@odata.context": s.ts.URL + "/beta/$metadata#deviceManagement/configurationPolicies/$entity"}
	for k, v := range doc {
		if k != "settings" {
			out[k] = v
		}
	}
	out["id"], out["createdDateTime"], out["lastModifiedDateTime"], out["settingCount"] = p.ID, graphTime(now), graphTime(now), len(doc["settings"].([]any))
	writeJSON(w, http.StatusCreated, out)
}

func (s *Server) listPolicies(w http.ResponseWriter, r *http.Request) {
	s.count("listPolicies")
	if !s.checkSelect(r, "id", "name", "description", "lastModifiedDateTime") || !s.checkNoBody(r) {
		odataError(w, http.StatusBadRequest, "BadRequest", "Request not allowed by the LAPS emulator.")
		return
	}
	if !s.requirePermission(w, PermConfiguration) {
		return
	}
	s.mu.Lock()
	value := []map[string]any{}
	for _, p := range s.policies {
		value = append(value, map[string]any{"id": p.ID, "name": p.Name, "description": p.Description, "lastModifiedDateTime": graphTime(p.Modified)})
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"@odata.context": s.ts.URL + "/beta/$metadata#deviceManagement/configurationPolicies", "value": value})
}

func (s *Server) policy(w http.ResponseWriter, r *http.Request, id, action string) {
	if !s.requirePermission(w, PermConfiguration) {
		return
	}
	s.mu.Lock()
	p, ok := s.policies[id]
	s.mu.Unlock()
	switch {
	case action == "" && r.Method == http.MethodGet:
		s.count("getPolicy")
		if !s.checkSelect(r, "id", "name", "description", "lastModifiedDateTime") || !s.checkNoBody(r) {
			odataError(w, http.StatusBadRequest, "BadRequest", "Request not allowed by the LAPS emulator.")
			return
		}
		if !ok {
			odataError(w, http.StatusNotFound, "NotFound", "Policy "+id+" not found")
			return
		}
		s.mu.Lock()
		obj := map[string]any{"@odata.context": s.ts.URL + "/beta/$metadata#deviceManagement/configurationPolicies/$entity",
			"id": p.ID, "name": p.Name, "description": p.Description, "lastModifiedDateTime": graphTime(p.Modified)}
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, obj)
	case action == "" && r.Method == http.MethodPatch:
		s.count("updatePolicy")
		doc, raw, valid := s.readPolicyBody(w, r)
		if !valid {
			return
		}
		if !ok {
			odataError(w, http.StatusNotFound, "NotFound", "Policy "+id+" not found")
			return
		}
		s.mu.Lock()
		p.Body, p.Name, p.Description, p.Modified = raw, str(doc["name"]), str(doc["description"]), s.opts.Now()
		p.Updates++
		s.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	case action == "" && r.Method == http.MethodDelete:
		s.count("deletePolicy")
		s.checkNoBody(r)
		if !ok {
			odataError(w, http.StatusNotFound, "NotFound", "Policy "+id+" not found")
			return
		}
		s.mu.Lock()
		delete(s.policies, id)
		s.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	case action == "assign" && r.Method == http.MethodPost:
		s.count("assignPolicy")
		groups, valid := s.readAssignments(w, r)
		if !valid {
			return
		}
		if !ok {
			odataError(w, http.StatusNotFound, "NotFound", "Policy "+id+" not found")
			return
		}
		s.mu.Lock()
		p.GroupIDs = groups
		s.mu.Unlock()
		value := []map[string]any{}
		for _, g := range groups {
			value = append(value, map[string]any{"id": id + "_" + g, "source": "direct", "target": map[string]any{"@odata.type": "#microsoft.graph.groupAssignmentTarget", "groupId": g}})
		}
		writeJSON(w, http.StatusOK, map[string]any{"@odata.context": s.ts.URL + "/beta/$metadata#Collection(microsoft.graph.deviceManagementConfigurationPolicyAssignment)", "value": value})
	default:
		s.violation(r, "no such configuration policy operation")
		odataError(w, http.StatusMethodNotAllowed, "BadRequest", "No HTTP resource was found that matches the request URI.")
	}
}

func (s *Server) readAssignments(w http.ResponseWriter, r *http.Request) ([]string, bool) {
	var body struct {
		Assignments []struct {
			Target map[string]any `json:"target"`
		} `json:"assignments"`
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil || body.Assignments == nil {
		s.violation(r, "assign body must be {\"assignments\":[...]}: %v", err)
		odataError(w, http.StatusBadRequest, "BadRequest", "Invalid assignment payload.")
		return nil, false
	}
	var groups []string
	for i, a := range body.Assignments {
		if a.Target["@odata.type"] != "#microsoft.graph.groupAssignmentTarget" || str(a.Target["groupId"]) == "" {
			s.violation(r, "assignments[%d].target must be a groupAssignmentTarget with a groupId, got %v", i, a.Target)
			odataError(w, http.StatusBadRequest, "BadRequest", "Invalid assignment target.")
			return nil, false
		}
		groups = append(groups, str(a.Target["groupId"]))
	}
	return groups, true
}

func (s *Server) registrationPolicy(w http.ResponseWriter, r *http.Request) {
	s.count("registrationPolicy")
	s.checkNoBody(r)
	if !s.requirePermission(w, PermPolicyRead) {
		return
	}
	s.mu.Lock()
	on := s.lapsEnabled
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{
		"@odata.context":               s.ts.URL + "/v1.0/$metadata#policies/deviceRegistrationPolicy/$entity",
		"id":                           "deviceRegistrationPolicy",
		"displayName":                  "Device Registration Policy",
		"description":                  "Tenant-wide policy that manages initial provisioning controls",
		"userDeviceQuota":              50,
		"multiFactorAuthConfiguration": "notRequired",
		"localAdminPassword":           map[string]any{"isEnabled": on},
	})
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func (s *Server) route(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	const creds = "/v1.0/directory/deviceLocalCredentials"
	const managed = "/beta/deviceManagement/managedDevices"
	const policies = "/beta/deviceManagement/configurationPolicies"
	switch {
	case p == creds && r.Method == http.MethodGet:
		s.listCredentials(w, r)
	case strings.HasPrefix(p, creds+"/") && r.Method == http.MethodGet:
		s.getCredential(w, r, strings.TrimPrefix(p, creds+"/"))
	case p == managed && r.Method == http.MethodGet:
		s.findManagedDevice(w, r)
	case strings.HasPrefix(p, managed+"/"):
		id, action, _ := strings.Cut(strings.TrimPrefix(p, managed+"/"), "/")
		switch {
		case action == "" && r.Method == http.MethodGet:
			s.getManagedDevice(w, r, id)
		case action == "rotateLocalAdminPassword" && r.Method == http.MethodPost:
			s.rotate(w, r, id)
		default:
			s.violation(r, "no such managed device operation")
			odataError(w, http.StatusBadRequest, "BadRequest", "Resource not found for the segment '"+action+"'.")
		}
	case p == policies && r.Method == http.MethodPost:
		s.createPolicy(w, r)
	case p == policies && r.Method == http.MethodGet:
		s.listPolicies(w, r)
	case strings.HasPrefix(p, policies+"/"):
		id, action, _ := strings.Cut(strings.TrimPrefix(p, policies+"/"), "/")
		s.policy(w, r, id, action)
	case p == "/v1.0/policies/deviceRegistrationPolicy" && r.Method == http.MethodGet:
		s.registrationPolicy(w, r)
	default:
		s.violation(r, "no such Graph call in the LAPS emulator")
		odataError(w, http.StatusBadRequest, "BadRequest", fmt.Sprintf("Resource not found for the segment '%s'.", p))
	}
}
