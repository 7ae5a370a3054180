package ldapserver

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/hashicorp/go-hclog"
	"github.com/jimlambrt/gldap"
)

// Config configures the embedded directory server.
type Config struct {
	StoreConfig
	// MaxPageSize caps every page and every unpaged search, as AD's MaxPageSize (default 1000).
	MaxPageSize int
	// ControllerPassword, DevicePassword and AdminPassword are the passwords of the three
	// accounts the server creates (random when empty).
	ControllerPassword, DevicePassword, AdminPassword string
}

// Account names the server creates in CN=Users.
const (
	ControllerAccount = "fleetlaps-controller"
	DeviceAccount     = "fleetlaps-device-writer"
	AdminAccount      = "fleetlaps-admin"
)

// Credentials are a bind DN and its password.
type Credentials struct {
	DN, Password string
}

// Stats counts what the server did since start (or the last ResetStats).
type Stats struct {
	Connections int64
	Binds       int64
	FailedBinds int64
	StartTLS    int64
	// Searches counts search requests: each is one round trip (a page, for paged searches).
	Searches      int64
	PagedSearches int64
	Entries       int64
	// ConfidentialWithheld counts attribute values withheld from a reader without the right
	// to see them (the controller asking for a confidential attribute).
	ConfidentialWithheld int64
	Modifies             int64
	ModifiesRefused      int64
	DroppedConnections   int64
	// ControllerRoundTrips counts the searches and modifies of connections bound as the
	// controller: the manager's LDAP cost, apart from devices or tests that speak LDAP too.
	ControllerRoundTrips int64
}

// RoundTrips is the number of LDAP requests other than binds: searches (pages) plus modifies.
func (s Stats) RoundTrips() int64 { return s.Searches + s.Modifies }

type counters struct {
	connections, binds, failedBinds, startTLS, searches, pagedSearches, entries,
	withheld, modifies, modifiesRefused, dropped, controllerTrips atomic.Int64
}

type connKey struct{ listener, conn int }

type pageState struct {
	owner   connKey
	seq     uint64 // creation order, to evict the oldest
	entries []*Entry
	offset  int
	attrs   []string
	types   bool
}

// Server is the embedded AD-like LDAP directory: plain LDAP with StartTLS and LDAPS on
// 127.0.0.1, random ports, a CA generated at start.
type Server struct {
	store     *Store
	cfg       Config
	tlsConfig *tls.Config
	caPEM     []byte
	creds     map[Role]Credentials

	gl      []*gldap.Server
	proxies []*proxy
	stats   counters

	binds sync.Map // connKey -> Identity

	mu      sync.Mutex
	pages   map[string]*pageState
	pageSeq uint64

	dropAfter atomic.Int64 // -1: off; n: drop every connection after n more entries
}

// Start builds the store and starts both listeners.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.MaxPageSize <= 0 {
		cfg.MaxPageSize = 1000
	}
	st := NewStore(cfg.StoreConfig)
	s := &Server{store: st, cfg: cfg, pages: map[string]*pageState{}, creds: map[Role]Credentials{}}
	s.dropAfter.Store(-1)
	for _, a := range []struct {
		name string
		pw   *string
		role Role
	}{{ControllerAccount, &cfg.ControllerPassword, RoleController}, {DeviceAccount, &cfg.DevicePassword, RoleDevice}, {AdminAccount, &cfg.AdminPassword, RoleAdmin}} {
		pw := *a.pw
		if pw == "" {
			pw = randomSecret()
		}
		dn, _, err := st.AddUser(a.name, pw, a.role)
		if err != nil {
			return nil, err
		}
		s.creds[a.role] = Credentials{DN: dn, Password: pw}
	}
	var err error
	s.tlsConfig, s.caPEM, err = newTLS("dc1." + st.DNSDomain())
	if err != nil {
		return nil, fmt.Errorf("generating certificates: %w", err)
	}
	for i, tlsCfg := range []*tls.Config{nil, s.tlsConfig} {
		if err := s.startListener(ctx, i, tlsCfg); err != nil {
			_ = s.Close()
			return nil, err
		}
	}
	return s, nil
}

func randomSecret() string {
	b := make([]byte, 18)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// startListener runs one gldap server on an internal loopback port behind a proxy that owns
// the public port (so tests can drop connections).
func (s *Server) startListener(ctx context.Context, idx int, tlsCfg *tls.Config) error {
	mux, err := gldap.NewMux()
	if err != nil {
		return err
	}
	_ = mux.Bind(s.guard(idx, s.handleBind))
	_ = mux.Search(s.guard(idx, s.handleSearch))
	_ = mux.Modify(s.guard(idx, s.handleModify))
	_ = mux.Unbind(func(_ *gldap.ResponseWriter, r *gldap.Request) {
		s.binds.Delete(connKey{idx, r.ConnectionID()})
	})
	_ = mux.ExtendedOperation(s.guard(idx, s.handleStartTLS), gldap.ExtendedOperationStartTLS)
	_ = mux.DefaultRoute(s.guard(idx, func(_ int, w *gldap.ResponseWriter, r *gldap.Request) {
		_ = w.Write(r.NewResponse(gldap.WithResponseCode(ResultUnwillingToPerform), gldap.WithDiagnosticMessage("operation not supported by the embedded directory")))
	}))
	var lastErr error
	for range 5 {
		port, err := freePort()
		if err != nil {
			return err
		}
		srv, err := gldap.NewServer(gldap.WithLogger(hclog.NewNullLogger()), gldap.WithOnClose(func(id int) { s.connClosed(connKey{idx, id}) }))
		if err != nil {
			return err
		}
		_ = srv.Router(mux)
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		runErr := make(chan error, 1)
		go func() {
			var opts []gldap.Option
			if tlsCfg != nil {
				opts = append(opts, gldap.WithTLSConfig(tlsCfg))
			}
			runErr <- srv.Run(addr, opts...)
		}()
		if lastErr = waitListening(addr, runErr); lastErr != nil {
			_ = srv.Stop()
			continue
		}
		p, err := newProxy(addr, &s.stats)
		if err != nil {
			_ = srv.Stop()
			return err
		}
		s.gl = append(s.gl, srv)
		s.proxies = append(s.proxies, p)
		return nil
	}
	return fmt.Errorf("starting the LDAP listener: %w", lastErr)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func waitListening(addr string, runErr <-chan error) error {
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-runErr:
			if err == nil {
				err = errors.New("listener stopped")
			}
			return err
		default:
		}
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			_ = c.Close()
			return nil
		}
		time.Sleep(5 * time.Millisecond)
	}
	return fmt.Errorf("%s did not start listening", addr)
}

// Close stops both listeners and drops every connection.
func (s *Server) Close() error {
	for _, p := range s.proxies {
		p.close()
	}
	var errs []error
	for _, g := range s.gl {
		errs = append(errs, g.Stop())
	}
	return errors.Join(errs...)
}

// Store is the directory the server serves; the simulated devices write to it in process.
func (s *Server) Store() *Store { return s.store }

// URL is the plain LDAP URL (StartTLS available).
func (s *Server) URL() string { return "ldap://" + s.proxies[0].addr() }

// LDAPSURL is the LDAPS URL.
func (s *Server) LDAPSURL() string { return "ldaps://" + s.proxies[1].addr() }

// CAPEM is the PEM of the CA that signed the server certificate.
func (s *Server) CAPEM() []byte { return s.caPEM }

// Credentials returns the bind DN and password of the account with role.
func (s *Server) Credentials(role Role) Credentials { return s.creds[role] }

// MaxPageSize is the page size cap.
func (s *Server) MaxPageSize() int { return s.cfg.MaxPageSize }

// Stats returns the counters.
func (s *Server) Stats() Stats {
	c := &s.stats
	return Stats{
		Connections: c.connections.Load(), Binds: c.binds.Load(), FailedBinds: c.failedBinds.Load(),
		StartTLS: c.startTLS.Load(), Searches: c.searches.Load(), PagedSearches: c.pagedSearches.Load(),
		Entries: c.entries.Load(), ConfidentialWithheld: c.withheld.Load(), Modifies: c.modifies.Load(),
		ModifiesRefused: c.modifiesRefused.Load(), DroppedConnections: c.dropped.Load(),
		ControllerRoundTrips: c.controllerTrips.Load(),
	}
}

// ResetStats zeroes the counters.
func (s *Server) ResetStats() {
	c := &s.stats
	for _, v := range []*atomic.Int64{&c.connections, &c.binds, &c.failedBinds, &c.startTLS, &c.searches,
		&c.pagedSearches, &c.entries, &c.withheld, &c.modifies, &c.modifiesRefused, &c.dropped, &c.controllerTrips} {
		v.Store(0)
	}
}

// DropConnectionsAfterEntries arms a one-shot fault: after n more search result entries have
// been sent, the server closes every client connection in the middle of the search, as a
// domain controller that goes away mid-page.
func (s *Server) DropConnectionsAfterEntries(n int) { s.dropAfter.Store(int64(n)) }

func (s *Server) dropAll() {
	for _, p := range s.proxies {
		p.dropAll()
	}
}

type handler func(listener int, w *gldap.ResponseWriter, r *gldap.Request)

// guard turns a handler into a gldap handler that never lets a panic escape: gldap runs
// handlers on their own goroutines without recovery, so one malformed request would otherwise
// take the process down.
func (s *Server) guard(idx int, h handler) gldap.HandlerFunc {
	return func(w *gldap.ResponseWriter, r *gldap.Request) {
		defer func() {
			if rec := recover(); rec != nil {
				_ = w.Write(r.NewResponse(gldap.WithResponseCode(ResultOther), gldap.WithDiagnosticMessage(fmt.Sprintf("internal error: %v", rec))))
			}
		}()
		h(idx, w, r)
	}
}

func (s *Server) identity(idx int, r *gldap.Request) Identity {
	if v, ok := s.binds.Load(connKey{idx, r.ConnectionID()}); ok {
		return v.(Identity)
	}
	return Identity{}
}

// maxPagedResultsPerConn bounds the open paged searches of one connection, as AD's
// MaxResultSetsPerConn (10): a client that abandons searches without closing its connection
// cannot make the server hold their results forever. The oldest is forgotten first.
const maxPagedResultsPerConn = 10

func (s *Server) evictPagesLocked(k connKey) {
	var oldest string
	n := 0
	for c, p := range s.pages {
		if p.owner != k {
			continue
		}
		n++
		if oldest == "" || p.seq < s.pages[oldest].seq {
			oldest = c
		}
	}
	if n > maxPagedResultsPerConn {
		delete(s.pages, oldest)
	}
}

func (s *Server) countController(id Identity) {
	if id.Role == RoleController {
		s.stats.controllerTrips.Add(1)
	}
}

func (s *Server) connClosed(k connKey) {
	s.binds.Delete(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	for c, p := range s.pages {
		if p.owner == k {
			delete(s.pages, c)
		}
	}
}

func (s *Server) handleBind(idx int, w *gldap.ResponseWriter, r *gldap.Request) {
	resp := r.NewBindResponse()
	m, err := r.GetSimpleBindMessage()
	if err != nil {
		resp.SetResultCode(7) // authMethodNotSupported
		resp.SetDiagnosticMessage("only simple bind is supported")
		_ = w.Write(resp)
		return
	}
	key := connKey{idx, r.ConnectionID()}
	s.binds.Delete(key)
	id, ok := s.store.authenticate(m.UserName, string(m.Password))
	if !ok {
		s.stats.failedBinds.Add(1)
		resp.SetResultCode(ResultInvalidCredentials)
		resp.SetDiagnosticMessage("80090308: LdapErr: DSID-0C09041C, comment: AcceptSecurityContext error, data 52e, v4563")
		_ = w.Write(resp)
		return
	}
	s.stats.binds.Add(1)
	s.binds.Store(key, id)
	resp.SetResultCode(ResultSuccess)
	_ = w.Write(resp)
}

func (s *Server) handleStartTLS(_ int, w *gldap.ResponseWriter, r *gldap.Request) {
	resp := r.NewExtendedResponse(gldap.WithResponseCode(ResultSuccess))
	resp.SetResponseName(gldap.ExtendedOperationStartTLS)
	if err := w.Write(resp); err != nil {
		return
	}
	if err := r.StartTLS(s.tlsConfig); err == nil {
		s.stats.startTLS.Add(1)
	}
}

func (s *Server) handleModify(idx int, w *gldap.ResponseWriter, r *gldap.Request) {
	s.stats.modifies.Add(1)
	reply := func(err error) {
		code, msg := ResultSuccess, ""
		if err != nil {
			s.stats.modifiesRefused.Add(1)
			code, msg = ResultOther, err.Error()
			var re *ResultError
			if errors.As(err, &re) {
				code, msg = re.Code, re.Msg
			}
		}
		_ = w.Write(r.NewModifyResponse(gldap.WithResponseCode(code), gldap.WithDiagnosticMessage(msg)))
	}
	m, err := r.GetModifyMessage()
	if err != nil {
		reply(resultErr(ResultProtocolError, "%v", err))
		return
	}
	id := s.identity(idx, r)
	s.countController(id)
	if id.Role == RoleNone {
		reply(resultErr(ResultOperationsError, "000004DC: LdapErr: DSID-0C090A5C, comment: In order to perform this operation a successful bind must be completed on the connection., data 0, v4563"))
		return
	}
	changes := make([]Change, 0, len(m.Changes))
	for _, c := range m.Changes {
		vals, err := decodeValueSet(c.Modification.Vals)
		if err != nil {
			reply(resultErr(ResultProtocolError, "modification of %s: %v", c.Modification.Type, err))
			return
		}
		changes = append(changes, Change{Op: int(c.Operation), Attr: c.Modification.Type, Vals: vals})
	}
	reply(s.store.Modify(id, m.DN, changes))
}

// decodeValueSet works around gldap v0.1.14, which hands a modification's values over as the
// raw contents of the BER SET (the concatenated octet-string TLVs) instead of the values: it
// decodes those TLVs. An empty SET (delete the whole attribute) yields no values.
func decodeValueSet(raw []string) ([]string, error) {
	var out []string
	for _, r := range raw {
		rd := bytes.NewReader([]byte(r))
		for rd.Len() > 0 {
			p, err := ber.ReadPacket(rd)
			if err != nil {
				return nil, fmt.Errorf("malformed attribute value: %w", err)
			}
			if p.ClassType != ber.ClassUniversal || p.Tag != ber.TagOctetString {
				return nil, errors.New("attribute value is not an octet string")
			}
			out = append(out, p.Data.String())
		}
	}
	return out, nil
}

func (s *Server) handleSearch(idx int, w *gldap.ResponseWriter, r *gldap.Request) {
	s.stats.searches.Add(1)
	done := func(code int, msg string, controls ...gldap.Control) {
		resp := r.NewSearchDoneResponse(gldap.WithResponseCode(code), gldap.WithDiagnosticMessage(msg))
		if len(controls) > 0 {
			resp.SetControls(controls...)
		}
		_ = w.Write(resp)
	}
	m, err := r.GetSearchMessage()
	if err != nil {
		done(ResultProtocolError, err.Error())
		return
	}
	f, err := compileFilter(m.Filter)
	if err != nil {
		done(ResultProtocolError, err.Error())
		return
	}
	id := s.identity(idx, r)
	s.countController(id)
	if m.BaseDN == "" && int(m.Scope) == ScopeBase {
		root := s.store.rootDSE()
		if match(f, root, id) {
			s.writeEntry(w, r, id, root, m.Attributes, m.TypesOnly)
		}
		done(ResultSuccess, "")
		return
	}
	if id.Role == RoleNone {
		done(ResultOperationsError, "000004DC: LdapErr: DSID-0C090A5C, comment: In order to perform this operation a successful bind must be completed on the connection., data 0, v4563")
		return
	}
	var paging *gldap.ControlPaging
	for _, c := range m.Controls {
		if p, ok := c.(*gldap.ControlPaging); ok {
			paging = p
		}
	}
	key := connKey{idx, r.ConnectionID()}
	var st *pageState
	if paging != nil && len(paging.Cookie) > 0 {
		s.stats.pagedSearches.Add(1)
		s.mu.Lock()
		st = s.pages[string(paging.Cookie)]
		delete(s.pages, string(paging.Cookie))
		s.mu.Unlock()
		if st == nil || st.owner != key {
			done(ResultUnwillingToPerform, "00002024: SvcErr: DSID-02020BD4, problem 5003 (WILL_NOT_PERFORM), data 0: unknown paging cookie")
			return
		}
		if paging.PagingSize == 0 { // abandon the paged search
			done(ResultSuccess, "", &gldap.ControlPaging{})
			return
		}
	} else {
		if paging != nil {
			s.stats.pagedSearches.Add(1)
		}
		entries, err := s.store.find(id, m.BaseDN, int(m.Scope), f)
		if err != nil {
			var re *ResultError
			if errors.As(err, &re) {
				done(re.Code, re.Msg)
			} else {
				done(ResultOther, err.Error())
			}
			return
		}
		st = &pageState{owner: key, entries: entries, attrs: m.Attributes, types: m.TypesOnly}
	}

	limit := s.cfg.MaxPageSize
	if paging != nil && paging.PagingSize > 0 && int(paging.PagingSize) < limit {
		limit = int(paging.PagingSize)
	}
	if paging == nil && m.SizeLimit > 0 && int(m.SizeLimit) < limit {
		limit = int(m.SizeLimit)
	}
	end := min(st.offset+limit, len(st.entries))
	for _, e := range st.entries[st.offset:end] {
		if n := s.dropAfter.Load(); n >= 0 {
			if n == 0 && s.dropAfter.CompareAndSwap(0, -1) {
				s.dropAll()
				return
			}
			s.dropAfter.CompareAndSwap(n, n-1)
		}
		if err := s.writeEntry(w, r, id, e, st.attrs, st.types); err != nil {
			return
		}
	}
	st.offset = end
	if paging == nil {
		if end < len(st.entries) {
			done(ResultSizeLimitExceeded, "Size Limit Exceeded")
			return
		}
		done(ResultSuccess, "")
		return
	}
	if end >= len(st.entries) {
		done(ResultSuccess, "", &gldap.ControlPaging{})
		return
	}
	cookie := randomSecret()
	s.mu.Lock()
	s.pageSeq++
	st.seq = s.pageSeq
	s.pages[cookie] = st
	s.evictPagesLocked(key)
	s.mu.Unlock()
	done(ResultSuccess, "", &gldap.ControlPaging{Cookie: []byte(cookie)})
}

func (s *Server) writeEntry(w *gldap.ResponseWriter, r *gldap.Request, id Identity, e *Entry, attrs []string, typesOnly bool) error {
	s.store.mu.RLock()
	sel, withheld := s.store.selectAttrs(id, e, attrs)
	s.store.mu.RUnlock()
	resp := r.NewSearchResponseEntry(e.dn)
	for _, a := range sel {
		vals := a.vals
		if typesOnly {
			vals = nil
		}
		resp.AddAttribute(a.name, vals)
	}
	s.stats.entries.Add(1)
	s.stats.withheld.Add(int64(withheld))
	return w.Write(resp)
}
