package fleetsim

import (
	"crypto/tls"
	"errors"
	"sync"

	"github.com/go-ldap/ldap/v3"

	"github.com/fleetlaps/fleetlaps/internal/ldapserver"
)

// LDAPDirectory is the device channel over real LDAP: the devices read and write their
// computer objects through the embedded directory's LDAPS listener, bound as the device
// writer, as Windows LAPS does. It costs one or two round trips per device cycle, so the
// in-process channel (*ldapserver.Store) is the default for large fleets.
type LDAPDirectory struct {
	url   string
	tls   *tls.Config
	creds ldapserver.Credentials

	mu   sync.Mutex
	conn *ldap.Conn
}

// NewLDAPDirectory returns a channel that dials url (ldaps://) with tlsConfig and binds with
// creds. It connects lazily and reconnects after a failure.
func NewLDAPDirectory(url string, tlsConfig *tls.Config, creds ldapserver.Credentials) *LDAPDirectory {
	return &LDAPDirectory{url: url, tls: tlsConfig, creds: creds}
}

var _ Directory = (*LDAPDirectory)(nil)

func (l *LDAPDirectory) connLocked() (*ldap.Conn, error) {
	if l.conn != nil && !l.conn.IsClosing() {
		return l.conn, nil
	}
	c, err := ldap.DialURL(l.url, ldap.DialWithTLSConfig(l.tls))
	if err != nil {
		return nil, err
	}
	if err := c.Bind(l.creds.DN, l.creds.Password); err != nil {
		_ = c.Close()
		return nil, convert(err)
	}
	l.conn = c
	return c, nil
}

// do runs fn on the connection, dropping the connection on a network error so the next call
// reconnects.
func (l *LDAPDirectory) do(fn func(*ldap.Conn) error) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	c, err := l.connLocked()
	if err != nil {
		return err
	}
	err = fn(c)
	var le *ldap.Error
	if err != nil && (!errors.As(err, &le) || le.ResultCode == ldap.ErrorNetwork) {
		_ = c.Close()
		l.conn = nil
	}
	return convert(err)
}

// Read implements Directory: a base-scope search of dn. The identity is the bound account.
func (l *LDAPDirectory) Read(_ ldapserver.Identity, dn string, attrs ...string) (map[string][]string, error) {
	out := map[string][]string{}
	err := l.do(func(c *ldap.Conn) error {
		res, err := c.Search(ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 1, 0, false,
			"(objectClass=*)", attrs, nil))
		if err != nil {
			return err
		}
		for _, e := range res.Entries {
			for _, a := range e.Attributes {
				vals := make([]string, len(a.ByteValues))
				for i, b := range a.ByteValues {
					vals[i] = string(b)
				}
				out[a.Name] = vals
			}
		}
		return nil
	})
	return out, err
}

// Modify implements Directory with one LDAP modify.
func (l *LDAPDirectory) Modify(_ ldapserver.Identity, dn string, changes []ldapserver.Change) error {
	req := ldap.NewModifyRequest(dn, nil)
	for _, c := range changes {
		switch c.Op {
		case ldapserver.ModAdd:
			req.Add(c.Attr, c.Vals)
		case ldapserver.ModDelete:
			req.Delete(c.Attr, c.Vals)
		default:
			req.Replace(c.Attr, c.Vals)
		}
	}
	return l.do(func(c *ldap.Conn) error { return c.Modify(req) })
}

// Close drops the connection.
func (l *LDAPDirectory) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conn != nil {
		err := l.conn.Close()
		l.conn = nil
		return err
	}
	return nil
}

// convert turns an LDAP result error into the *ldapserver.ResultError the cycle classifies.
func convert(err error) error {
	var le *ldap.Error
	if err != nil && errors.As(err, &le) && le.ResultCode != ldap.ErrorNetwork {
		return &ldapserver.ResultError{Code: int(le.ResultCode), Msg: le.Error()}
	}
	return err
}
