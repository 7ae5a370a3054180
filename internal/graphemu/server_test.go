package graphemu

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// recorder is a Failer that keeps the violations instead of failing the test.
type recorder struct {
	mu  sync.Mutex
	got []string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, fmt.Sprintf(format, args...))
}

func (r *recorder) all() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.got, "\n")
}

func client(s *Server) *http.Client {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(s.CAPEM())
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

func token(t *testing.T, s *Server, c *http.Client) string {
	t.Helper()
	resp, err := c.PostForm(s.URL()+"/"+s.TenantID()+"/oauth2/v2.0/token", url.Values{
		"grant_type": {"client_credentials"}, "client_id": {s.ClientID()}, "client_secret": {s.ClientSecret()}, "scope": {s.URL() + "/.default"},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("token: %s", resp.Status)
	}
	var body struct {
		AccessToken string `json:"access_token"`
	}
	if err := decode(resp, &body); err != nil {
		t.Fatal(err)
	}
	return body.AccessToken
}

// Requests a LAPS controller must never send are reported; requests without the issued token get
// 401.
func TestStrictness(t *testing.T) {
	rec := &recorder{}
	s := New(rec, Options{})
	defer s.Close()
	s.AddFleet("pc", 3, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	c := client(s)
	get := func(path, tok string) int {
		req, _ := http.NewRequest(http.MethodGet, s.URL()+path, nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if st := get("/v1.0/directory/deviceLocalCredentials?$select=id", ""); st != 401 {
		t.Fatalf("no token: status %d, want 401", st)
	}
	tok := token(t, s, c)
	if st := get("/v1.0/directory/deviceLocalCredentials?$select=id,deviceName", tok); st != 200 || rec.all() != "" {
		t.Fatalf("metadata list: status %d, violations %q", st, rec.all())
	}
	for path, want := range map[string]string{
		"/v1.0/directory/deviceLocalCredentials":                        "no $select",
		"/v1.0/directory/deviceLocalCredentials?$select=id,credentials": "passwords are never read",
		"/beta/deviceManagement/managedDevices?$select=id":              "one at a time",
		"/v1.0/users": "no such Graph call",
	} {
		rec.got = nil
		get(path, tok)
		if !strings.Contains(rec.all(), want) {
			t.Errorf("%s: violations %q, want one saying %q", path, rec.all(), want)
		}
	}
}

func decode(resp *http.Response, v any) error { return json.NewDecoder(resp.Body).Decode(v) }

// A body on the rotate action (which takes none) and a settings-catalog policy off the LAPS
// template are reported.
func TestStrictness_Bodies(t *testing.T) {
	rec := &recorder{}
	s := New(rec, Options{})
	defer s.Close()
	s.AddFleet("pc", 1, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	c := client(s)
	tok := token(t, s, c)
	post := func(path, body string) int {
		req, _ := http.NewRequest(http.MethodPost, s.URL()+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	d, _ := s.DeviceState(s.order[0])
	if st := post("/beta/deviceManagement/managedDevices/"+d.ManagedDeviceID+"/rotateLocalAdminPassword", `{"force":true}`); st != 400 ||
		!strings.Contains(rec.all(), "a body") {
		t.Fatalf("rotate with a body: status %d, violations %q", st, rec.all())
	}
	rec.got = nil
	if st := post("/beta/deviceManagement/configurationPolicies", `{"name":"x","platforms":"windows10","technologies":"mdm","templateReference":{"templateId":"other_1"},"settings":[]}`); st != 400 ||
		!strings.Contains(rec.all(), "templateReference.templateId") {
		t.Fatalf("policy off the template: status %d, violations %q", st, rec.all())
	}
	if d, _ := s.DeviceState(d.ID); d.Rotations != 0 || len(s.Policies()) != 0 {
		t.Fatalf("a refused request changed state: %d rotations, %d policies", d.Rotations, len(s.Policies()))
	}
}
