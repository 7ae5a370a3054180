package graphemu

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; odata.metadata=minimal; odata.streaming=true; IEEE754Compatible=false; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// odataError writes Graph's error body: {"error":{"code","message","innerError"}}.
func odataError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]any{
		"code": code, "message": msg,
		"innerError": map[string]any{"date": time.Now().UTC().Format("2006-01-02T15:04:05"), "request-id": newID(), "client-request-id": newID()},
	}})
}

// selectFields returns the $select list, lower-cased.
func selectFields(r *http.Request) []string {
	v := r.URL.Query().Get("$select")
	if v == "" {
		return nil
	}
	var out []string
	for _, f := range strings.Split(v, ",") {
		out = append(out, strings.ToLower(strings.TrimSpace(f)))
	}
	return out
}

// checkSelect reports a violation unless $select is present and names only allowed fields.
func (s *Server) checkSelect(r *http.Request, allowed ...string) bool {
	fields := selectFields(r)
	if len(fields) == 0 {
		s.violation(r, "no $select: a LAPS controller asks only for the metadata it needs")
		return false
	}
	ok := true
	for _, f := range fields {
		if strings.Contains(f, "credential") || strings.Contains(f, "password") {
			s.violation(r, "$select asks for %q: passwords are never read", f)
			ok = false
			continue
		}
		found := false
		for _, a := range allowed {
			if strings.EqualFold(a, f) {
				found = true
			}
		}
		if !found {
			s.violation(r, "$select field %q is not one this call needs (allowed: %s)", f, strings.Join(allowed, ","))
			ok = false
		}
	}
	if e := r.URL.Query().Get("$expand"); e != "" {
		s.violation(r, "$expand=%s", e)
		ok = false
	}
	return ok
}

// checkNoBody reports a violation when a request that takes no body carries one.
func (s *Server) checkNoBody(r *http.Request) bool {
	b, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if len(b) > 0 {
		s.violation(r, "a body (%d bytes) where none belongs", len(b))
		return false
	}
	return true
}

func (s *Server) requirePermission(w http.ResponseWriter, perm string) bool {
	s.mu.Lock()
	ok := s.perms[perm]
	s.mu.Unlock()
	if !ok {
		odataError(w, http.StatusForbidden, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
	}
	return ok
}

func (s *Server) count(kind string) {
	s.mu.Lock()
	s.counts[kind]++
	s.mu.Unlock()
}

func pageParams(r *http.Request, max int) (top, skip int) {
	top = max
	if v := r.URL.Query().Get("$top"); v != "" {
		if n, err := strconv.Atoi(v); err == nil && n > 0 && n < max {
			top = n
		}
	}
	if v := r.URL.Query().Get("$skiptoken"); v != "" {
		if n, err := strconv.Atoi(strings.TrimPrefix(v, "o")); err == nil && n > 0 {
			skip = n
		}
	}
	return top, skip
}

func graphTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format(time.RFC3339Nano)
}
