package graphemu

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Failer receives every forbidden request. *testing.T and *testing.B satisfy it; the demo passes
// a recorder and fails its run when anything was recorded.
type Failer interface {
	Errorf(format string, args ...any)
}

// Graph permissions (application roles) each call needs, as LAPS-REFERENCE.md §2 lists them.
const (
	PermLAPSMetadata   = "DeviceLocalCredential.ReadBasic.All"
	PermManagedDevices = "DeviceManagementManagedDevices.Read.All"
	PermPrivilegedOps  = "DeviceManagementManagedDevices.PrivilegedOperations.All"
	PermConfiguration  = "DeviceManagementConfiguration.ReadWrite.All"
	PermPolicyRead     = "Policy.Read.DeviceConfiguration"
)

// AllPermissions are the roles the emulated application holds unless Options says otherwise.
var AllPermissions = []string{PermLAPSMetadata, PermManagedDevices, PermPrivilegedOps, PermConfiguration, PermPolicyRead}

// Options configure a Server.
type Options struct {
	// TenantID and ClientID the token endpoint accepts (defaults: fixed GUIDs, see Tenant/Client).
	TenantID, ClientID string
	// ClientSecret the token endpoint accepts for client_secret grants.
	ClientSecret string
	// ClientCertificatePEM, when set, makes the token endpoint also accept a client assertion
	// signed by this certificate's key.
	ClientCertificatePEM []byte
	// MaxPageSize caps $top (default 1000, as Graph caps deviceLocalCredentials pages).
	MaxPageSize int
	// Permissions the application holds (default AllPermissions).
	Permissions []string
	// Now is the emulator's clock (default time.Now).
	Now func() time.Time
}

// Default identities of the emulated tenant and application.
const (
	DefaultTenantID     = "8f1c2b1e-7d1a-4c55-9a4b-3e2f10c0ffee"
	DefaultClientID     = "0b7f6a2c-5a3e-4e1b-8d6f-1f2e3d4c5b6a"
	DefaultClientSecret = "emulator-client-secret"
)

// Server is a running emulator. Its methods are safe for concurrent use.
type Server struct {
	ts   *httptest.Server
	fail Failer
	opts Options

	mu          sync.Mutex
	tokens      map[string]bool
	perms       map[string]bool
	devices     map[string]*Device
	order       []string
	byManaged   map[string]*Device
	policies    map[string]*Policy
	lapsEnabled bool
	faults      faults
	counts      map[string]int
}

// New starts an emulator on a loopback TLS listener.
func New(fail Failer, opts Options) *Server {
	if opts.TenantID == "" {
		opts.TenantID = DefaultTenantID
	}
	if opts.ClientID == "" {
		opts.ClientID = DefaultClientID
	}
	if opts.ClientSecret == "" && opts.ClientCertificatePEM == nil {
		opts.ClientSecret = DefaultClientSecret
	}
	if opts.MaxPageSize <= 0 {
		opts.MaxPageSize = 1000
	}
	if opts.Permissions == nil {
		opts.Permissions = AllPermissions
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{
		fail: fail, opts: opts, tokens: map[string]bool{}, perms: map[string]bool{},
		devices: map[string]*Device{}, byManaged: map[string]*Device{}, policies: map[string]*Policy{},
		lapsEnabled: true, counts: map[string]int{},
	}
	for _, p := range opts.Permissions {
		s.perms[p] = true
	}
	s.ts = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	s.ts.StartTLS()
	return s
}

// Close stops the listener.
func (s *Server) Close() { s.ts.Close() }

// URL is the server's base URL (https://127.0.0.1:PORT): both the graphEndpoint and the
// authorityHost of a connection pointed at the emulator.
func (s *Server) URL() string { return s.ts.URL }

// TenantID and ClientID are the identities the token endpoint accepts.
func (s *Server) TenantID() string { return s.opts.TenantID }
func (s *Server) ClientID() string { return s.opts.ClientID }

// ClientSecret is the secret the token endpoint accepts.
func (s *Server) ClientSecret() string { return s.opts.ClientSecret }

// CAPEM is the PEM certificate of the emulator's TLS server, for a connection's caFile.
func (s *Server) CAPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.ts.Certificate().Raw})
}

// WriteCAFile writes CAPEM to dir/graph-ca.pem and returns the path.
func (s *Server) WriteCAFile(dir string) (string, error) {
	p := filepath.Join(dir, "graph-ca.pem")
	return p, os.WriteFile(p, s.CAPEM(), 0o600)
}

// SetPermission grants or revokes one application role.
func (s *Server) SetPermission(perm string, granted bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.perms[perm] = granted
}

// SetTenantLAPSEnabled sets localAdminPassword.isEnabled of the device registration policy.
func (s *Server) SetTenantLAPSEnabled(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lapsEnabled = on
}

// Count returns how many requests of a kind were answered (whatever the status). Kinds:
// "token", "listCredentials", "getCredential", "findManagedDevice", "getManagedDevice",
// "rotate", "createPolicy", "listPolicies", "getPolicy", "updatePolicy", "deletePolicy",
// "assignPolicy", "registrationPolicy", "throttled", "serverError".
func (s *Server) Count(kind string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[kind]
}

func (s *Server) violation(r *http.Request, format string, args ...any) {
	s.fail.Errorf("graphemu: forbidden request %s %s: %s", r.Method, r.URL.RequestURI(), fmt.Sprintf(format, args...))
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	switch {
	case strings.HasPrefix(path, "/"+s.opts.TenantID+"/"):
		s.serveAuthority(w, r, strings.TrimPrefix(path, "/"+s.opts.TenantID))
		return
	case strings.HasPrefix(path, "/v1.0/"), strings.HasPrefix(path, "/beta/"):
	default:
		s.violation(r, "no such endpoint")
		odataError(w, http.StatusNotFound, "NotFound", "Resource not found for the segment '"+path+"'.")
		return
	}
	if !s.authorized(r) {
		odataError(w, http.StatusUnauthorized, "InvalidAuthenticationToken", "Access token is empty or invalid.")
		return
	}
	if s.injectFault(w) {
		return
	}
	s.route(w, r)
}
