// Package ad is the Active Directory backend of directory.Directory over LDAP (go-ldap).
//
// The controller holds only the outer LAPS permission ring (LAPS-REFERENCE.md §1): it reads
// non-confidential metadata and writes the expiration time. It never requests a password
// attribute: the search uses an explicit allow-list (attributes.go) checked against the
// deny-list (denylist.go). The update time and the password source come from the replication
// metadata of the password attributes, which the outer ring may read.
package ad

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"math"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/fleetlaps/fleetlaps/internal/adsyntax"
	"github.com/fleetlaps/fleetlaps/internal/directory"
	"github.com/fleetlaps/fleetlaps/internal/dn"
	"github.com/fleetlaps/fleetlaps/internal/metrics"
)

// Options are the non-config collaborators of a Directory.
type Options struct {
	Logger logr.Logger
	// Now stamps snapshots (default time.Now).
	Now func() time.Time
	// Backoff is the first wait before reconnecting; it doubles per attempt (default 200ms).
	Backoff time.Duration
}

// Directory is the AD implementation of directory.Directory. Reads (snapshots, schema, principal
// lookups) are serialised on one connection and rotation writes on a second, so a write never
// waits for a sync pass over a large directory; each is (re)established lazily and fails over
// across Config.URLs in order.
type Directory struct {
	cfg     Config
	log     logr.Logger
	now     func() time.Time
	backoff time.Duration
	// pemRoots are the inline CAs (caPEM); a caFile is re-read for every new connection, so a
	// rotated CA bundle is used without a restart.
	pemRoots *x509.CertPool

	mu    sync.Mutex
	binds *bindGuard
	// writer holds the connection for rotation writes (nil on the writer itself).
	writer *Directory
	conn   *ldap.Conn
	connTo string
	dc     dcInfo
	schema *schemaInfo

	// snapshot state
	devices   map[string]directory.DeviceRecord
	watermark watermark
	lastFull  time.Time
}

var _ directory.Directory = (*Directory)(nil)

// dcInfo is what the rootDSE and the NTDS Settings object say about the DC we are bound to.
type dcInfo struct {
	defaultNC, configNC, schemaNC string
	dsServiceName                 string
	invocationID                  string
	highestUSN                    int64
}

// watermark is where the previous pass stopped: incremental passes are valid only on the same
// DC database (dsServiceName and invocationId unchanged).
type watermark struct {
	dsServiceName, invocationID string
	usn                         int64
}

// New validates cfg and returns a Directory; it does not connect.
func New(cfg Config, opts Options) (*Directory, error) {
	if err := cfg.Validate(); err != nil {
		return nil, directory.NewError(directory.ErrInvalidConfig, cfg.Name, "configure", err)
	}
	if err := checkAllowList(append(slices.Clone(searchAttributes), gpoAttributes...)); err != nil {
		return nil, directory.NewError(directory.ErrInvalidConfig, cfg.Name, "configure", err)
	}
	cfg = cfg.WithDefaults()
	// Every line of this backend names its connection once, here.
	d := &Directory{cfg: cfg, log: opts.Logger.WithValues("directory", cfg.Name), now: opts.Now, backoff: opts.Backoff}
	if d.now == nil {
		d.now = time.Now
	}
	if d.backoff == 0 {
		d.backoff = 200 * time.Millisecond
	}
	if cfg.CAPEM != "" {
		d.pemRoots = x509.NewCertPool()
		d.pemRoots.AppendCertsFromPEM([]byte(cfg.CAPEM))
	}
	d.binds = &bindGuard{}
	d.writer = &Directory{cfg: cfg, log: d.log, now: d.now, backoff: d.backoff, pemRoots: d.pemRoots, binds: d.binds}
	return d, nil
}

func (d *Directory) Name() string         { return d.cfg.Name }
func (d *Directory) Type() directory.Type { return directory.TypeActiveDirectory }

// Close drops the connections.
func (d *Directory) Close() error {
	if d.writer != nil {
		_ = d.writer.Close()
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.dropLocked()
	return nil
}

func (d *Directory) dropLocked() {
	if d.conn != nil {
		_ = d.conn.Close()
		d.conn = nil
		d.connTo = ""
	}
}

func (d *Directory) fail(op string, kind directory.ErrorKind, err error) error {
	e := directory.NewError(kind, d.cfg.Name, op, err)
	countError(d.cfg.Name, e)
	return e
}

// failClassified wraps err with the kind classify gives it, unless it already is classified.
func (d *Directory) failClassified(op string, err error) error {
	var de *directory.Error
	if errors.As(err, &de) {
		countError(d.cfg.Name, de)
		return de
	}
	return d.fail(op, classify(err), err)
}

// classify maps go-ldap and network errors to directory error kinds.
func classify(err error) directory.ErrorKind {
	if certificateInvalid(err) {
		return directory.ErrCertificateInvalid
	}
	var le *ldap.Error
	if errors.As(err, &le) {
		switch le.ResultCode {
		case ldap.LDAPResultInvalidCredentials, ldap.LDAPResultInappropriateAuthentication,
			ldap.LDAPResultStrongAuthRequired, ldap.LDAPResultConfidentialityRequired:
			return directory.ErrAuthFailed
		case ldap.LDAPResultInsufficientAccessRights, ldap.LDAPResultAuthorizationDenied:
			return directory.ErrPermissionDenied
		case ldap.LDAPResultNoSuchObject:
			return directory.ErrNotFound
		case ldap.LDAPResultUndefinedAttributeType, ldap.LDAPResultObjectClassViolation,
			ldap.LDAPResultNoSuchAttribute:
			return directory.ErrSchemaMissing
		case ldap.LDAPResultBusy, ldap.LDAPResultAdminLimitExceeded:
			return directory.ErrThrottled
		case ldap.LDAPResultInvalidAttributeSyntax, ldap.LDAPResultConstraintViolation:
			return directory.ErrBadData
		case ldap.ErrorNetwork, ldap.LDAPResultUnavailable, ldap.LDAPResultServerDown,
			ldap.LDAPResultTimeout, ldap.LDAPResultTimeLimitExceeded, ldap.LDAPResultConnectError,
			ldap.ErrorUnexpectedResponse, ldap.ErrorMalformedPacket:
			return directory.ErrUnreachable
		}
	}
	// Dial and TLS failures (a wrong CA fails closed here), timeouts, cancellation and result
	// codes not listed above: no usable server.
	return directory.ErrUnreachable
}

// errCertificateVerification marks a StartTLS handshake that failed verifying the certificate.
var errCertificateVerification = errors.New("certificate verification failed")

// certificateInvalid says whether err is a failed verification of the server's certificate.
func certificateInvalid(err error) bool {
	if errors.Is(err, errCertificateVerification) {
		return true
	}
	var (
		invalid  x509.CertificateInvalidError
		host     x509.HostnameError
		unknown  x509.UnknownAuthorityError
		verify   *tls.CertificateVerificationError
		invalidP *x509.CertificateInvalidError
		hostP    *x509.HostnameError
		unknownP *x509.UnknownAuthorityError
	)
	return errors.As(err, &invalid) || errors.As(err, &host) || errors.As(err, &unknown) || errors.As(err, &verify) ||
		errors.As(err, &invalidP) || errors.As(err, &hostP) || errors.As(err, &unknownP)
}

// isConnectionLost says whether err means the connection is gone (retry on another one). go-ldap
// reports a connection closed under a running request with an untyped error; callers also
// check Conn.IsClosing.
func isConnectionLost(err error) bool {
	var le *ldap.Error
	if errors.As(err, &le) {
		switch le.ResultCode {
		case ldap.ErrorNetwork, ldap.LDAPResultServerDown, ldap.LDAPResultUnavailable,
			ldap.LDAPResultConnectError, ldap.ErrorUnexpectedResponse, ldap.ErrorMalformedPacket,
			ldap.LDAPResultTimeout:
			return true
		}
	}
	var ne net.Error
	return errors.As(err, &ne)
}

// connectLocked dials the URLs in order until one answers and accepts the bind.
func (d *Directory) connectLocked(ctx context.Context) error {
	if d.conn != nil && !d.conn.IsClosing() {
		return nil
	}
	d.dropLocked()
	password, err := d.cfg.readPassword()
	if err != nil {
		return directory.NewError(directory.ErrInvalidConfig, d.cfg.Name, "connect", err)
	}
	if until, suspended := d.binds.suspended(d.now(), password); suspended {
		return directory.NewError(directory.ErrBindSuspended, d.cfg.Name, "bind", fmt.Errorf(
			"%d binds as %s were refused within an hour; no bind is sent until %s or until the password file changes",
			bindBudget, d.cfg.BindDN, until.UTC().Format(time.RFC3339)))
	}
	var errs []error
	certErr := false
	for _, raw := range d.cfg.URLs {
		if err := ctx.Err(); err != nil {
			return directory.NewError(directory.ErrUnreachable, d.cfg.Name, "connect", err)
		}
		conn, err := d.dial(ctx, raw)
		if err != nil {
			d.log.V(1).Info("domain controller unreachable", "url", raw, "error", err.Error())
			errs = append(errs, fmt.Errorf("%s: %w", raw, err))
			certErr = certErr || certificateInvalid(err)
			continue
		}
		conn.SetTimeout(d.cfg.Timeout.Duration)
		if err := conn.Bind(d.cfg.BindDN, password); err != nil {
			_ = conn.Close()
			kind := classify(err)
			if kind == directory.ErrAuthFailed {
				// The same credentials would fail on every DC of the domain.
				d.binds.refused(d.now(), password)
				return directory.NewError(kind, d.cfg.Name, "bind", fmt.Errorf("%s as %s: %w", raw, d.cfg.BindDN, err))
			}
			errs = append(errs, fmt.Errorf("%s: bind: %w", raw, err))
			continue
		}
		d.binds.accepted()
		d.conn, d.connTo = conn, raw
		info, err := d.readDCInfoLocked()
		if err != nil {
			d.dropLocked()
			errs = append(errs, fmt.Errorf("%s: rootDSE: %w", raw, err))
			continue
		}
		d.setDCLocked(info)
		d.log.V(1).Info("connected", "url", raw, "dsServiceName", info.dsServiceName)
		return nil
	}
	if certErr {
		// Say why rather than "unreachable": only a certificate or trust change helps.
		return directory.NewError(directory.ErrCertificateInvalid, d.cfg.Name, "connect", errors.Join(errs...))
	}
	return directory.NewError(directory.ErrUnreachable, d.cfg.Name, "connect", errors.Join(errs...))
}

// roots returns the CAs trusted for the DCs' certificates (nil: the system roots). A caFile is
// read at every new connection.
func (d *Directory) roots() (*x509.CertPool, error) {
	if d.cfg.CAFile == "" {
		return d.pemRoots, nil
	}
	b, err := os.ReadFile(d.cfg.CAFile)
	if err != nil {
		return nil, fmt.Errorf("caFile: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("caFile: %s holds no PEM certificate", d.cfg.CAFile)
	}
	return pool, nil
}

func (d *Directory) dial(ctx context.Context, raw string) (*ldap.Conn, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	roots, err := d.roots()
	if err != nil {
		return nil, err
	}
	tc := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12, ServerName: d.cfg.TLSServerName}
	if tc.ServerName == "" {
		tc.ServerName = u.Hostname()
	}
	dialer := &net.Dialer{Timeout: d.cfg.Timeout.Duration}
	if dl, ok := ctx.Deadline(); ok {
		dialer.Deadline = dl
	}
	var conn *ldap.Conn
	if u.Scheme == "ldaps" {
		conn, err = ldap.DialURL(raw, ldap.DialWithDialer(dialer), ldap.DialWithTLSConfig(tc))
	} else {
		conn, err = ldap.DialURL(raw, ldap.DialWithDialer(dialer))
	}
	if err != nil {
		return nil, err
	}
	if u.Scheme == "ldap" && d.cfg.StartTLS {
		if err := conn.StartTLS(tc); err != nil {
			_ = conn.Close()
			if strings.Contains(err.Error(), "tls: failed to verify certificate") {
				// go-ldap formats the handshake error with %v, losing its type: keep its meaning.
				return nil, fmt.Errorf("StartTLS: %w: %w", errCertificateVerification, err)
			}
			return nil, fmt.Errorf("StartTLS: %w", err)
		}
	}
	return conn, nil
}

// setDCLocked records the DC state; on another DC (or a restored one) the schema's attribute ids
// are reloaded.
func (d *Directory) setDCLocked(info dcInfo) {
	if info.dsServiceName != d.dc.dsServiceName || info.invocationID != d.dc.invocationID {
		d.schema = nil
	}
	d.dc = info
}

func (d *Directory) readDCInfoLocked() (dcInfo, error) {
	res, err := d.conn.Search(ldap.NewSearchRequest("", ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false,
		"(objectClass=*)", []string{"defaultNamingContext", "configurationNamingContext", "schemaNamingContext",
			"dsServiceName", "highestCommittedUSN"}, nil))
	if err != nil {
		return dcInfo{}, err
	}
	if len(res.Entries) != 1 {
		return dcInfo{}, errors.New("no rootDSE")
	}
	e := res.Entries[0]
	info := dcInfo{
		defaultNC:     e.GetAttributeValue("defaultNamingContext"),
		configNC:      e.GetAttributeValue("configurationNamingContext"),
		schemaNC:      e.GetAttributeValue("schemaNamingContext"),
		dsServiceName: e.GetAttributeValue("dsServiceName"),
	}
	info.highestUSN, _ = strconv.ParseInt(e.GetAttributeValue("highestCommittedUSN"), 10, 64)
	if info.dsServiceName != "" {
		res, err := d.conn.Search(ldap.NewSearchRequest(info.dsServiceName, ldap.ScopeBaseObject, ldap.NeverDerefAliases,
			0, 0, false, "(objectClass=*)", []string{"invocationId"}, nil))
		if err == nil && len(res.Entries) == 1 {
			info.invocationID, _ = adsyntax.ParseGUID(res.Entries[0].GetRawAttributeValue("invocationId"))
		}
	}
	return info, nil
}

// withConn runs fn on a live connection, reconnecting (with backoff, failing over in URL order)
// when the connection drops, at most MaxRetries times. ctx cancellation closes the connection.
func (d *Directory) withConn(ctx context.Context, op string, fn func(conn *ldap.Conn) error) error {
	// Attempts are bounded by MaxRetries below; the wait doubles from the configured backoff.
	retry := wait.Backoff{Duration: d.backoff, Factor: 2, Steps: math.MaxInt32}
	for attempt := 0; ; attempt++ {
		if err := d.connectLocked(ctx); err != nil {
			if attempt < d.cfg.MaxRetries && directory.KindOf(err) == directory.ErrUnreachable {
				if !sleep(ctx, retry.Step()) {
					return d.failClassified(op, err)
				}
				continue
			}
			return d.failClassified(op, err)
		}
		conn := d.conn
		stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
		err := fn(conn)
		stop()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			d.dropLocked()
			return d.fail(op, directory.ErrUnreachable, ctx.Err())
		}
		lost := isConnectionLost(err) || conn.IsClosing()
		if !lost || attempt >= d.cfg.MaxRetries {
			if lost {
				d.dropLocked()
			}
			return d.failClassified(op, err)
		}
		d.log.Info("connection lost, reconnecting", "url", d.connTo, "op", op,
			"attempt", attempt+1, "error", err.Error())
		d.dropLocked()
		if !sleep(ctx, retry.Step()) {
			return d.fail(op, directory.ErrUnreachable, ctx.Err())
		}
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// Snapshot reads every computer under the search bases (or, on the same DC database as the
// previous pass, only those with a higher uSNChanged) and returns the merged view.
func (d *Directory) Snapshot(ctx context.Context) (*directory.Snapshot, error) {
	start := time.Now()
	d.mu.Lock()
	defer d.mu.Unlock()

	var (
		snap       *directory.Snapshot
		roundTrips int
	)
	err := d.withConn(ctx, "snapshot", func(conn *ldap.Conn) error {
		// Re-read the DC state on every attempt: a reconnect may land on another DC.
		info, err := d.readDCInfoLocked()
		if err != nil {
			return err
		}
		d.setDCLocked(info)
		if d.schema == nil {
			s, err := d.loadSchemaLocked(conn)
			if err != nil {
				return err
			}
			d.schema = s
		}
		full := d.devices == nil || d.watermark.dsServiceName != info.dsServiceName ||
			d.watermark.invocationID != info.invocationID || info.invocationID == "" ||
			d.now().Sub(d.lastFull) >= d.cfg.FullResyncInterval.Duration
		filter := "(objectClass=computer)"
		if !full {
			filter = fmt.Sprintf("(&(objectClass=computer)(uSNChanged>=%d))", d.watermark.usn+1)
		}
		bases := d.cfg.SearchBases
		if len(bases) == 0 {
			bases = []string{info.defaultNC}
		}
		seen := make(map[string]directory.DeviceRecord)
		for _, base := range bases {
			n, err := d.pagedSearch(conn, base, filter, func(e *ldap.Entry) {
				rec := d.parseEntry(e)
				seen[rec.Key] = rec
			})
			roundTrips += n
			if err != nil {
				return err
			}
		}
		snap = d.merge(seen, full)
		// The watermark is the USN read before the search: changes made during the pass have a
		// higher uSNChanged and are read again next time.
		d.watermark = watermark{dsServiceName: info.dsServiceName, invocationID: info.invocationID, usn: info.highestUSN}
		if full {
			d.lastFull = snap.Taken
		}
		metrics.DirectoryEntries.WithLabelValues(d.cfg.Name).Add(float64(len(seen)))
		return nil
	})
	if err != nil {
		d.log.Error(err, "snapshot failed", "roundTrips", roundTrips)
		return nil, err
	}
	snap.RoundTrips = roundTrips
	d.log.V(1).Info("snapshot", "full", snap.Full, "roundTrips", roundTrips,
		"devices", len(snap.Devices), "changed", len(snap.Changed), "removed", len(snap.Removed),
		"duration", time.Since(start).String())
	return snap, nil
}

// pagedSearch runs one paged subtree search and returns the number of round trips (pages).
// When the last page is exactly full, AD and Samba still return a cookie and one more, empty,
// page is fetched: that page counts as a round trip.
func (d *Directory) pagedSearch(conn *ldap.Conn, base, filter string, each func(*ldap.Entry)) (int, error) {
	paging := ldap.NewControlPaging(uint32(d.cfg.PageSize))
	req := ldap.NewSearchRequest(base, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0,
		int(d.cfg.Timeout.Seconds()), false, filter, searchAttributes, []ldap.Control{paging})
	trips := 0
	// A server that repeats a page (Samba legitimately repeats its cookie, so the entries
	// tell) would page forever: a page that brings no entry not seen before in this search,
	// or an empty page with the same cookie again, is bad data.
	seen := map[uint64]struct{}{}
	var lastCookie []byte
	for {
		res, err := conn.Search(req)
		trips++
		if err != nil {
			return trips, err
		}
		fresh := 0
		for _, e := range res.Entries {
			h := fnv.New64a()
			_, _ = h.Write([]byte(strings.ToLower(e.DN)))
			if _, dup := seen[h.Sum64()]; !dup {
				seen[h.Sum64()] = struct{}{}
				fresh++
			}
			each(e)
		}
		ctl, ok := ldap.FindControl(res.Controls, ldap.ControlTypePaging).(*ldap.ControlPaging)
		if !ok || len(ctl.Cookie) == 0 {
			return trips, nil
		}
		if (len(res.Entries) > 0 && fresh == 0) || (len(res.Entries) == 0 && bytes.Equal(ctl.Cookie, lastCookie)) {
			return trips, directory.NewError(directory.ErrBadData, d.cfg.Name, "snapshot",
				fmt.Errorf("the server repeated a page (paging cookie and entries) after %d pages under %s", trips, base))
		}
		lastCookie = bytes.Clone(ctl.Cookie)
		paging.SetCookie(ctl.Cookie)
	}
}

// merge folds the entries read by this pass into the previous view.
func (d *Directory) merge(seen map[string]directory.DeviceRecord, full bool) *directory.Snapshot {
	prev := d.devices
	next := make(map[string]directory.DeviceRecord, max(len(prev), len(seen)))
	if !full {
		maps.Copy(next, prev)
	}
	snap := &directory.Snapshot{Directory: d.cfg.Name, Full: full}
	for k, rec := range seen {
		old, ok := prev[k]
		if !ok || !sameRecord(old, rec) {
			snap.Changed = append(snap.Changed, k)
		}
		next[k] = rec
	}
	if full {
		for k := range prev {
			if _, ok := seen[k]; !ok {
				snap.Removed = append(snap.Removed, k)
			}
		}
	}
	slices.Sort(snap.Changed)
	slices.Sort(snap.Removed)
	d.devices = next
	snap.Devices = maps.Clone(next)
	snap.Taken = d.now()
	return snap
}

// sameRecord compares two records ignoring USNChanged: a change of an attribute the controller
// does not read (lastLogonTimestamp, say) bumps the USN but is not a change of LAPS state.
func sameRecord(a, b directory.DeviceRecord) bool {
	a.USNChanged, b.USNChanged = 0, 0
	return a.Key == b.Key && a.Name == b.Name && a.DistinguishedName == b.DistinguishedName &&
		a.ObjectGUID == b.ObjectGUID && a.SAMAccountName == b.SAMAccountName &&
		a.DNSHostName == b.DNSHostName && a.ObjectSID == b.ObjectSID &&
		a.DomainController == b.DomainController &&
		a.PasswordExpirationTime.Equal(b.PasswordExpirationTime) &&
		a.PasswordNeverExpires == b.PasswordNeverExpires &&
		a.PasswordUpdateTime.Equal(b.PasswordUpdateTime) && a.UpdateTimeSource == b.UpdateTimeSource &&
		a.CurrentPasswordVersion == b.CurrentPasswordVersion && a.Source == b.Source &&
		a.LegacyExpirationTime.Equal(b.LegacyExpirationTime) && a.LegacyNeverExpires == b.LegacyNeverExpires &&
		a.StorageUnknown == b.StorageUnknown && slices.Equal(a.BadData, b.BadData)
}

// userAccountControl bits.
const (
	uacServerTrustAccount = 0x2000
)

// parseEntry turns one search entry into a record. It never fails: malformed values are listed
// in BadData and the rest of the record is filled.
func (d *Directory) parseEntry(e *ldap.Entry) directory.DeviceRecord {
	rec := directory.DeviceRecord{
		DistinguishedName: e.DN,
		Name:              e.GetAttributeValue(attrCN),
		SAMAccountName:    e.GetAttributeValue(attrSAMAccountName),
		DNSHostName:       e.GetAttributeValue(attrDNSHostName),
	}
	bad := func(attr string, err error) { rec.BadData = append(rec.BadData, attr+": "+err.Error()) }

	if g, err := adsyntax.ParseGUID(e.GetRawAttributeValue(attrObjectGUID)); err != nil {
		bad(attrObjectGUID, err)
		rec.Key = "dn:" + strings.ToLower(e.DN) // still unique; the device is reported, not lost
	} else {
		rec.ObjectGUID, rec.Key = g, g
	}
	if raw := e.GetRawAttributeValue(attrObjectSID); len(raw) > 0 {
		if s, err := adsyntax.ParseSID(raw); err != nil {
			bad(attrObjectSID, err)
		} else {
			rec.ObjectSID = s
		}
	}
	if v := e.GetAttributeValue(attrUserAccountControl); v != "" {
		if uac, err := strconv.ParseInt(v, 10, 64); err != nil {
			bad(attrUserAccountControl, fmt.Errorf("not an integer: %q", v))
		} else {
			rec.DomainController = uac&uacServerTrustAccount != 0
		}
	}
	if strings.Contains(strings.ToLower(e.DN), ",ou=domain controllers,") {
		rec.DomainController = true
	}
	if v := e.GetAttributeValue(attrUSNChanged); v != "" {
		if n, err := strconv.ParseInt(v, 10, 64); err != nil {
			bad(attrUSNChanged, fmt.Errorf("not an integer: %q", v))
		} else {
			rec.USNChanged = n
		}
	}
	if v := e.GetAttributeValue(attrExpiration); v != "" {
		if ft, err := adsyntax.ParseFiletime(v); err != nil {
			bad(attrExpiration, err)
		} else {
			rec.PasswordExpirationTime, rec.PasswordNeverExpires = ft.Time, ft.Never
		}
	}
	if raw := e.GetRawAttributeValue(attrPasswordVersion); len(raw) > 0 {
		if g, err := adsyntax.ParseGUID(raw); err != nil {
			bad(attrPasswordVersion, err)
		} else {
			rec.CurrentPasswordVersion = g
		}
	}
	if v := e.GetAttributeValue(attrLegacyExpiration); v != "" {
		if ft, err := adsyntax.ParseFiletime(v); err != nil {
			bad(attrLegacyExpiration, err)
		} else {
			rec.LegacyExpirationTime, rec.LegacyNeverExpires = ft.Time, ft.Never
		}
	}
	rec.StorageUnknown = true
	if raw := e.GetRawAttributeValue(attrReplMetadata); len(raw) > 0 {
		md, err := parseReplPropertyMetaData(raw)
		if err != nil {
			bad(attrReplMetadata, err)
		} else {
			rec.StorageUnknown = !d.applyMetadata(&rec, md)
		}
	}
	return rec
}

// sourceRank breaks ties between password attributes changed in the same second: Windows LAPS
// writes the new attribute and clears the others in one modify, so the same originating time
// appears on both; the encrypted form is the one Windows LAPS prefers.
var sourceRank = map[directory.PasswordSource]int{
	directory.SourceEncrypted: 3, directory.SourceCleartext: 2, directory.SourceLegacy: 1,
}

// applyMetadata sets PasswordUpdateTime and Source from the originating-change times of the
// password attributes (no metadata entry for any of them: no password was ever stored). It
// returns false when the schema gave no attribute ids to look for, so nothing can be told.
// Caveats: metadata outlives a cleared value, so a password attribute that was cleared without
// being replaced still counts until another one changes later; and a switch from encrypted to
// clear text in one modify ties on time and reads as Encrypted until the next rotation.
func (d *Directory) applyMetadata(rec *directory.DeviceRecord, md []attrMetadata) bool {
	if d.schema == nil || len(d.schema.sourceByAttID) == 0 {
		return false
	}
	var best attrMetadata
	var bestSource directory.PasswordSource
	for _, m := range md {
		src, ok := d.schema.sourceByAttID[m.AttID]
		if !ok || m.Changed.IsZero() {
			continue
		}
		if bestSource == "" || m.Changed.After(best.Changed) ||
			(m.Changed.Equal(best.Changed) && sourceRank[src] > sourceRank[bestSource]) {
			best, bestSource = m, src
		}
	}
	if bestSource != "" {
		rec.PasswordUpdateTime = best.Changed
		rec.UpdateTimeSource = directory.UpdateTimeReplicationMetadata
		rec.Source = bestSource
	}
	return true
}

// schemaInfo is what the schema says about the LAPS attributes.
type schemaInfo struct {
	present map[string]bool
	// sourceByAttID maps the replication attid (msDS-IntId) of the current-password attributes
	// to the source they stand for.
	sourceByAttID map[uint32]directory.PasswordSource
}

func (d *Directory) loadSchemaLocked(conn *ldap.Conn) (*schemaInfo, error) {
	names := append(windowsLAPSAttributes(), legacyLAPSAttributes()...)
	var f strings.Builder
	f.WriteString("(&(objectClass=attributeSchema)(|")
	for _, n := range names {
		f.WriteString("(lDAPDisplayName=" + ldap.EscapeFilter(n) + ")")
	}
	f.WriteString("))")
	res, err := conn.Search(ldap.NewSearchRequest(d.dc.schemaNC, ldap.ScopeSingleLevel, ldap.NeverDerefAliases, 0,
		int(d.cfg.Timeout.Seconds()), false, f.String(), []string{"lDAPDisplayName", "msDS-IntId", "attributeID"}, nil))
	if err != nil {
		return nil, err
	}
	s := &schemaInfo{present: map[string]bool{}, sourceByAttID: map[uint32]directory.PasswordSource{}}
	for _, e := range res.Entries {
		name := e.GetAttributeValue("lDAPDisplayName")
		for _, n := range names {
			if strings.EqualFold(n, name) {
				s.present[n] = true
			}
		}
		id, err := strconv.ParseInt(e.GetAttributeValue("msDS-IntId"), 10, 64)
		if err != nil {
			// Attributes of the base schema have no msDS-IntId; their attid comes from the
			// prefix map, which this backend does not decode yet: no update time for them.
			d.log.V(1).Info("attribute has no msDS-IntId; its update time is not derived", "attribute", name)
			continue
		}
		for _, a := range deniedAttributes {
			if a.Source != "" && strings.EqualFold(a.Name, name) {
				s.sourceByAttID[uint32(int32(id))] = a.Source
			}
		}
	}
	return s, nil
}

// CheckSchema reports which LAPS attributes the schema has.
func (d *Directory) CheckSchema(ctx context.Context) (directory.SchemaReport, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var rep directory.SchemaReport
	err := d.withConn(ctx, "checkSchema", func(conn *ldap.Conn) error {
		s, err := d.loadSchemaLocked(conn)
		if err != nil {
			return err
		}
		d.schema = s
		rep = directory.SchemaReport{}
		for _, n := range windowsLAPSAttributes() {
			if s.present[n] {
				rep.Present = append(rep.Present, n)
			} else {
				rep.Missing = append(rep.Missing, n)
			}
		}
		for _, n := range legacyLAPSAttributes() {
			if s.present[n] {
				rep.Present = append(rep.Present, n)
			}
		}
		rep.Legacy = s.present[attrLegacyExpiration]
		return nil
	})
	return rep, err
}

// RequestRotation writes the expiration time (legacy: ms-Mcs-AdmPwdExpirationTime) to at.
// Writing the same value again is harmless, so the call is idempotent.
//
// The target must be an object of this connection: a DN outside the search bases is refused
// with ErrOutOfScope before anything is sent, and when the call names the objectGUID too, the
// object is found by GUID under the search bases and must sit at that DN (one search before the
// modify). The controller resolves both from its own snapshot; this check holds even for a caller
// that does not.
func (d *Directory) RequestRotation(ctx context.Context, device directory.DeviceRef, at time.Time) error {
	if d.writer != nil {
		return d.writer.RequestRotation(ctx, device, at)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	attr := attrExpiration
	if device.Legacy {
		attr = attrLegacyExpiration
	}
	value := adsyntax.FormatFiletime(at)
	var target string
	err := d.withConn(ctx, "requestRotation", func(conn *ldap.Conn) error {
		bases := d.searchBasesLocked()
		target = device.DistinguishedName
		if target != "" && !dn.WithinAny(target, bases) {
			return directory.NewError(directory.ErrOutOfScope, d.cfg.Name, "requestRotation",
				fmt.Errorf("%q is outside the search bases %q", target, bases))
		}
		if device.Key != "" {
			found, err := d.findByGUIDLocked(conn, device.Key, bases)
			if err != nil {
				return err
			}
			if target == "" {
				target = found
			} else if !dn.Equal(found, target) {
				return directory.NewError(directory.ErrOutOfScope, d.cfg.Name, "requestRotation",
					fmt.Errorf("the computer with objectGUID %s is %q, not %q", device.Key, found, target))
			}
		}
		req := ldap.NewModifyRequest(target, nil)
		req.Replace(attr, []string{value})
		return conn.Modify(req)
	})
	if err != nil {
		return err
	}
	d.log.Info("rotation requested", "dn", target, "key", device.Key,
		"attribute", attr, "at", at.UTC().Format(time.RFC3339))
	return nil
}

// searchBasesLocked is where this connection's computers live: the configured search bases, or
// the domain naming context.
func (d *Directory) searchBasesLocked() []string {
	if len(d.cfg.SearchBases) > 0 {
		return d.cfg.SearchBases
	}
	return []string{d.dc.defaultNC}
}

func (d *Directory) findByGUIDLocked(conn *ldap.Conn, key string, bases []string) (string, error) {
	raw, err := adsyntax.GUIDBytes(key)
	if err != nil {
		return "", directory.NewError(directory.ErrNotFound, d.cfg.Name, "requestRotation", fmt.Errorf("device key: %w", err))
	}
	filter := "(&(objectClass=computer)(objectGUID=" + escapeBytes(raw) + "))"
	var found []string
	for _, base := range bases {
		res, err := conn.Search(ldap.NewSearchRequest(base, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 2,
			int(d.cfg.Timeout.Seconds()), false, filter, []string{"1.1"}, nil))
		if err != nil {
			return "", err
		}
		for _, e := range res.Entries {
			found = append(found, e.DN)
		}
	}
	if len(found) == 0 {
		return "", directory.NewError(directory.ErrNotFound, d.cfg.Name, "requestRotation", fmt.Errorf("no computer with objectGUID %s under the search bases", key))
	}
	return found[0], nil
}

func escapeBytes(b []byte) string {
	var sb strings.Builder
	for _, c := range b {
		fmt.Fprintf(&sb, "\\%02x", c)
	}
	return sb.String()
}

// ResolvePrincipal turns a SID, DOMAIN\name or name@domain into the SID of an existing user or
// group of this domain.
func (d *Directory) ResolvePrincipal(ctx context.Context, name string) (string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	name = strings.TrimSpace(name)
	var sid string
	err := d.withConn(ctx, "resolvePrincipal", func(conn *ldap.Conn) error {
		filter, err := d.principalFilterLocked(conn, name)
		if err != nil {
			return err
		}
		res, err := conn.Search(ldap.NewSearchRequest(d.dc.defaultNC, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 2,
			int(d.cfg.Timeout.Seconds()), false,
			"(&(|(objectClass=user)(objectClass=group))"+filter+")", []string{attrObjectSID}, nil))
		if err != nil {
			return err
		}
		switch len(res.Entries) {
		case 0:
			return directory.NewError(directory.ErrNotFound, d.cfg.Name, "resolvePrincipal", fmt.Errorf("no user or group %q", name))
		case 1:
		default:
			return directory.NewError(directory.ErrBadData, d.cfg.Name, "resolvePrincipal", fmt.Errorf("%q matches %d objects", name, len(res.Entries)))
		}
		s, err := adsyntax.ParseSID(res.Entries[0].GetRawAttributeValue(attrObjectSID))
		if err != nil {
			return directory.NewError(directory.ErrBadData, d.cfg.Name, "resolvePrincipal", err)
		}
		sid = s
		return nil
	})
	return sid, err
}

func (d *Directory) principalFilterLocked(conn *ldap.Conn, name string) (string, error) {
	notFound := func(format string, args ...any) error {
		return directory.NewError(directory.ErrNotFound, d.cfg.Name, "resolvePrincipal", fmt.Errorf(format, args...))
	}
	dnsDomain := dnsDomainOf(d.dc.defaultNC)
	switch {
	case len(name) > 4 && strings.EqualFold(name[:4], "S-1-"):
		raw, err := adsyntax.SIDBytes(name)
		if err != nil {
			return "", notFound("%v", err)
		}
		return "(objectSid=" + escapeBytes(raw) + ")", nil
	case strings.Contains(name, `\`):
		domain, user, _ := strings.Cut(name, `\`)
		netbios, err := d.netbiosNameLocked(conn)
		if err != nil {
			return "", err
		}
		if user == "" || !(strings.EqualFold(domain, netbios) || strings.EqualFold(domain, dnsDomain)) {
			return "", notFound("%q is not in domain %s (%s)", name, netbios, dnsDomain)
		}
		return "(sAMAccountName=" + ldap.EscapeFilter(user) + ")", nil
	case strings.Contains(name, "@"):
		i := strings.LastIndex(name, "@")
		user, domain := name[:i], name[i+1:]
		if user == "" || domain == "" {
			return "", notFound("%q is not name@domain", name)
		}
		f := "(userPrincipalName=" + ldap.EscapeFilter(name) + ")"
		if strings.EqualFold(domain, dnsDomain) {
			// Groups have no userPrincipalName: name@domain of this domain also matches the
			// sAMAccountName, as Windows LAPS accepts for ADPasswordEncryptionPrincipal.
			f = "(|" + f + "(sAMAccountName=" + ldap.EscapeFilter(user) + "))"
		}
		return f, nil
	}
	return "", notFound("%q is not a SID, DOMAIN\\name or name@domain", name)
}

func (d *Directory) netbiosNameLocked(conn *ldap.Conn) (string, error) {
	res, err := conn.Search(ldap.NewSearchRequest("CN=Partitions,"+d.dc.configNC, ldap.ScopeSingleLevel, ldap.NeverDerefAliases, 1,
		int(d.cfg.Timeout.Seconds()), false,
		"(&(objectClass=crossRef)(nCName="+ldap.EscapeFilter(d.dc.defaultNC)+"))", []string{"nETBIOSName"}, nil))
	if err != nil {
		return "", err
	}
	if len(res.Entries) == 0 {
		return "", nil
	}
	return res.Entries[0].GetAttributeValue("nETBIOSName"), nil
}

// dnsDomainOf turns DC=fleet,DC=test into fleet.test.
func dnsDomainOf(distinguishedName string) string {
	return strings.Join(dn.Values(distinguishedName, "DC"), ".")
}
