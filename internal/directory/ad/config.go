package ad

import (
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"sigs.k8s.io/yaml"
)

// Defaults for Config.
const (
	// DefaultPageSize is AD's MaxPageSize.
	DefaultPageSize = 1000
	DefaultTimeout  = 30 * time.Second
	// DefaultFullResyncInterval bounds how long a deleted computer stays in the snapshot.
	DefaultFullResyncInterval = time.Hour
)

// Config is one Active Directory connection, read from the manager's config file (a ConfigMap);
// the bind password comes from PasswordFile (a mounted Secret), never from flags or CR specs.
type Config struct {
	// Name is the connection name LapsPolicy and ManagedDevice objects reference.
	Name string `json:"name" yaml:"name"`
	// URLs are the domain controllers, tried in order (ldaps://host:636 or ldap://host:389).
	URLs []string `json:"urls" yaml:"urls"`
	// StartTLS upgrades ldap:// URLs with StartTLS. Required for ldap:// unless InsecureNoTLS.
	StartTLS bool `json:"startTLS,omitempty" yaml:"startTLS,omitempty"`
	// InsecureNoTLS allows plain LDAP. DEVELOPMENT ONLY: the bind password crosses the wire in
	// clear text.
	InsecureNoTLS bool `json:"insecureNoTLS,omitempty" yaml:"insecureNoTLS,omitempty"`
	// CAFile is a PEM bundle of CAs trusted for the DCs' certificates.
	CAFile string `json:"caFile,omitempty" yaml:"caFile,omitempty"`
	// CAPEM is the same bundle inline. Without CAFile and CAPEM the system roots are used.
	CAPEM string `json:"caPEM,omitempty" yaml:"caPEM,omitempty"`
	// TLSServerName overrides the name checked in the DC certificate (default: the URL host).
	TLSServerName string `json:"tlsServerName,omitempty" yaml:"tlsServerName,omitempty"`
	// BindDN is the controller's account for a simple bind.
	BindDN string `json:"bindDN" yaml:"bindDN"`
	// PasswordFile is the path of the bind password (a mounted Secret key).
	PasswordFile string `json:"passwordFile" yaml:"passwordFile"`
	// SearchBases are the subtrees searched for computers (default: the domain's
	// defaultNamingContext).
	SearchBases []string `json:"searchBases,omitempty" yaml:"searchBases,omitempty"`
	// PageSize is the paged-results page size (default 1000, AD's MaxPageSize).
	PageSize int `json:"pageSize,omitempty" yaml:"pageSize,omitempty"`
	// Timeout bounds dialing and every request (default 30s).
	Timeout Duration `json:"timeout,omitempty" yaml:"timeout,omitempty"`
	// FullResyncInterval forces a full pass when the last one is older (default 1h). Incremental
	// passes cannot see deleted computers or computers moved out of the search bases; full
	// passes report them in Snapshot.Removed.
	FullResyncInterval Duration `json:"fullResyncInterval,omitempty" yaml:"fullResyncInterval,omitempty"`
	// GroupPolicy is the account that publishes LapsPolicies as Group Policy objects. Unset: the
	// connection cannot publish Group Policy (policies with spec.groupPolicy report it).
	GroupPolicy *GroupPolicyConfig `json:"groupPolicy,omitempty" yaml:"groupPolicy,omitempty"`
	// MaxRetries is how often a pass reconnects (to the next DC, with backoff) after a dropped
	// connection before it gives up (default 3).
	MaxRetries int `json:"maxRetries,omitempty" yaml:"maxRetries,omitempty"`
}

// GroupPolicyConfig is the publishing account: it needs create-child of groupPolicyContainer
// objects on CN=Policies,CN=System of the domain, write of gPLink on the link targets, and
// write on the SYSVOL Policies folder; it owns (and so may change and delete) the objects it
// creates. Nothing else.
type GroupPolicyConfig struct {
	// BindDN is the publishing account's DN for LDAP simple binds.
	BindDN string `json:"bindDN" yaml:"bindDN"`
	// User and Domain are the same account for NTLMv2 on SMB (sAMAccountName and NetBIOS
	// domain name).
	User   string `json:"user" yaml:"user"`
	Domain string `json:"domain" yaml:"domain"`
	// PasswordFile is the path of its password (a mounted Secret key).
	PasswordFile string `json:"passwordFile" yaml:"passwordFile"`
	// SMBAddress is host:port of the SYSVOL share (default: the host of the first URL, port 445).
	SMBAddress string `json:"smbAddress,omitempty" yaml:"smbAddress,omitempty"`
}

// Duration is a time.Duration written as a Go duration string ("30s") in config files.
type Duration struct{ time.Duration }

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string such as \"30s\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	d.Duration = v
	return nil
}

// LoadConfig reads a YAML or JSON config file holding one connection.
func LoadConfig(path string) (Config, error) {
	var c Config
	b, err := os.ReadFile(path)
	if err != nil {
		return c, err
	}
	if err := yaml.UnmarshalStrict(b, &c); err != nil {
		return c, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// WithDefaults returns c with defaults filled in.
func (c Config) WithDefaults() Config {
	if c.PageSize == 0 {
		c.PageSize = DefaultPageSize
	}
	if c.Timeout.Duration == 0 {
		c.Timeout.Duration = DefaultTimeout
	}
	if c.MaxRetries == 0 {
		c.MaxRetries = 3
	}
	if c.FullResyncInterval.Duration == 0 {
		c.FullResyncInterval.Duration = DefaultFullResyncInterval
	}
	return c
}

// Validate reports every problem of the configuration, each naming its field.
func (c Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	if c.Name == "" {
		bad("name", "must be set")
	}
	if len(c.URLs) == 0 {
		bad("urls", "at least one domain controller URL is required")
	}
	schemes := map[string]bool{}
	for i, raw := range c.URLs {
		u, err := url.Parse(raw)
		if err == nil {
			schemes[u.Scheme] = true
		}
		switch {
		case err != nil:
			bad(fmt.Sprintf("urls[%d]", i), "not a URL: %v", err)
		case u.Host == "":
			bad(fmt.Sprintf("urls[%d]", i), "%q has no host", raw)
		case u.Scheme == "ldaps":
			if c.StartTLS {
				bad("startTLS", "cannot be combined with the ldaps:// URL %q", raw)
			}
		case u.Scheme == "ldap":
			if !c.StartTLS && !c.InsecureNoTLS {
				bad(fmt.Sprintf("urls[%d]", i), "%q is plain LDAP: set startTLS, use ldaps://, or (development only) insecureNoTLS", raw)
			}
		default:
			bad(fmt.Sprintf("urls[%d]", i), "scheme %q is not ldap or ldaps", u.Scheme)
		}
	}
	if schemes["ldap"] && schemes["ldaps"] {
		// One connection has one transport: a fallback from ldaps:// to ldap:// would quietly
		// drop TLS (or StartTLS) for some domain controllers.
		bad("urls", "mixes ldaps:// and ldap:// URLs; use one scheme for every domain controller")
	}
	if c.InsecureNoTLS && c.StartTLS {
		bad("insecureNoTLS", "cannot be combined with startTLS")
	}
	if c.CAFile != "" && c.CAPEM != "" {
		bad("caFile", "set caFile or caPEM, not both")
	}
	if c.CAPEM != "" && !x509.NewCertPool().AppendCertsFromPEM([]byte(c.CAPEM)) {
		bad("caPEM", "holds no PEM certificate")
	}
	if c.CAFile != "" {
		if b, err := os.ReadFile(c.CAFile); err != nil {
			bad("caFile", "%v", err)
		} else if !x509.NewCertPool().AppendCertsFromPEM(b) {
			bad("caFile", "%s holds no PEM certificate", c.CAFile)
		}
	}
	if c.BindDN == "" {
		bad("bindDN", "must be set (anonymous binds are not supported)")
	}
	if c.PasswordFile == "" {
		bad("passwordFile", "must name the file holding the bind password (a mounted Secret)")
	} else if fi, err := os.Stat(c.PasswordFile); err != nil {
		bad("passwordFile", "%v", err)
	} else if fi.IsDir() {
		bad("passwordFile", "%s is a directory", c.PasswordFile)
	}
	for i, b := range c.SearchBases {
		if strings.TrimSpace(b) == "" {
			bad(fmt.Sprintf("searchBases[%d]", i), "is empty")
		}
	}
	if g := c.GroupPolicy; g != nil {
		for _, f := range []struct{ name, v string }{{"groupPolicy.bindDN", g.BindDN}, {"groupPolicy.user", g.User}, {"groupPolicy.domain", g.Domain}, {"groupPolicy.passwordFile", g.PasswordFile}} {
			if strings.TrimSpace(f.v) == "" {
				bad(f.name, "must be set")
			}
		}
		if g.PasswordFile != "" {
			if fi, err := os.Stat(g.PasswordFile); err != nil {
				bad("groupPolicy.passwordFile", "%v", err)
			} else if fi.IsDir() {
				bad("groupPolicy.passwordFile", "%s is a directory", g.PasswordFile)
			}
		}
		if g.SMBAddress != "" {
			if _, _, err := net.SplitHostPort(g.SMBAddress); err != nil {
				bad("groupPolicy.smbAddress", "%q is not host:port: %v", g.SMBAddress, err)
			}
		}
	}
	if c.PageSize < 0 || c.PageSize > 100000 {
		bad("pageSize", "%d is outside 1..100000 (0 means %d)", c.PageSize, DefaultPageSize)
	}
	if c.Timeout.Duration < 0 {
		bad("timeout", "must not be negative")
	}
	if c.FullResyncInterval.Duration < 0 {
		bad("fullResyncInterval", "must not be negative")
	}
	if c.MaxRetries < 0 {
		bad("maxRetries", "must not be negative")
	}
	return errors.Join(errs...)
}

func (c Config) readPassword() (string, error) { return readPasswordFile(c.PasswordFile) }

func readPasswordFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("passwordFile: %w", err)
	}
	p := strings.TrimRight(string(b), "\r\n")
	if p == "" {
		return "", fmt.Errorf("passwordFile: %s is empty", path)
	}
	return p, nil
}
