package entra

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// Defaults for Config.
const (
	DefaultGraphEndpoint = "https://graph.microsoft.com"
	DefaultAuthorityHost = "https://login.microsoftonline.com/"
	// DefaultPageSize is the largest page Graph serves for deviceLocalCredentials.
	DefaultPageSize = 1000
	DefaultTimeout  = 30 * time.Second
	// MaxRetryAfter bounds how long one throttled request waits for Graph's Retry-After; a
	// longer wait fails the call with ErrThrottled and the sync pass tries again later.
	MaxRetryAfter = 60 * time.Second
	// MaxRetries is how often one request is retried after 429/503/504.
	MaxRetries = 3
)

// Credential file names inside the connection's credentialsDir (a mounted Secret): a client
// secret, or a certificate and its key (the keys of a kubernetes.io/tls Secret).
const (
	SecretFile = "clientSecret"
	CertFile   = "tls.crt"
	KeyFile    = "tls.key"
)

// Config is one Entra ID connection: the settings of a directories-file entry of type entraID.
// Credentials are files in CredentialsDir, never settings.
type Config struct {
	// Name is the connection name.
	Name string `json:"-"`
	// TenantID is the Entra tenant (directory) id or a verified domain name.
	TenantID string `json:"tenantID"`
	// ClientID is the application (client) id of the app registration.
	ClientID string `json:"clientID"`
	// GraphEndpoint is the Microsoft Graph root for the tenant's cloud (default
	// https://graph.microsoft.com); a national cloud or any Graph-compatible endpoint sets it
	// together with AuthorityHost.
	GraphEndpoint string `json:"graphEndpoint,omitempty"`
	// AuthorityHost is the Entra sign-in host (default https://login.microsoftonline.com/).
	AuthorityHost string `json:"authorityHost,omitempty"`
	// CAFile is a PEM bundle of extra CAs trusted for GraphEndpoint and AuthorityHost (a private
	// CA); the system roots are trusted as well.
	CAFile string `json:"caFile,omitempty"`
	// PageSize is $top of the snapshot list (1..1000, default 1000).
	PageSize int `json:"pageSize,omitempty"`
	// Timeout bounds one HTTP request, retries included (default 30s; Go duration string).
	Timeout string `json:"timeout,omitempty"`

	// CredentialsDir is where the Secret with clientSecret or tls.crt + tls.key is mounted.
	CredentialsDir string `json:"-"`
}

var guidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
var domainRE = regexp.MustCompile(`^[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?(\.[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?)+$`)

// ParseSettings decodes a connection's settings; unknown keys (such as a clientSecret setting)
// are errors.
func ParseSettings(name string, raw json.RawMessage, credentialsDir string) (Config, error) {
	var c Config
	if len(raw) > 0 {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&c); err != nil {
			return Config{}, fmt.Errorf("directory %q settings: %w (allowed: tenantID, clientID, graphEndpoint, authorityHost, caFile, pageSize, timeout; credentials are files in credentialsDir)", name, err)
		}
	}
	c.Name, c.CredentialsDir = name, credentialsDir
	return c, c.withDefaults().Validate()
}

func (c *Config) withDefaults() *Config {
	if c.GraphEndpoint == "" {
		c.GraphEndpoint = DefaultGraphEndpoint
	}
	if c.AuthorityHost == "" {
		c.AuthorityHost = DefaultAuthorityHost
	}
	if c.PageSize == 0 {
		c.PageSize = DefaultPageSize
	}
	c.GraphEndpoint = strings.TrimRight(c.GraphEndpoint, "/")
	if !strings.HasSuffix(c.AuthorityHost, "/") {
		c.AuthorityHost += "/"
	}
	return c
}

// Validate names every unusable setting.
func (c *Config) Validate() error {
	var errs []error
	if !guidRE.MatchString(c.TenantID) && !domainRE.MatchString(c.TenantID) {
		errs = append(errs, fmt.Errorf("settings.tenantID %q: must be the tenant id (a GUID) or a verified domain name", c.TenantID))
	}
	if !guidRE.MatchString(c.ClientID) {
		errs = append(errs, fmt.Errorf("settings.clientID %q: must be the application (client) id, a GUID", c.ClientID))
	}
	for _, f := range []struct{ name, v string }{{"graphEndpoint", c.GraphEndpoint}, {"authorityHost", c.AuthorityHost}} {
		u, err := url.Parse(f.v)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("settings.%s %q: %v", f.name, f.v, err))
		case u.Scheme != "https" || u.Host == "":
			errs = append(errs, fmt.Errorf("settings.%s %q: must be an https URL", f.name, f.v))
		case f.name == "graphEndpoint" && u.Path != "":
			errs = append(errs, fmt.Errorf("settings.graphEndpoint %q: must be the root without a version path (the backend adds /v1.0 and /beta)", f.v))
		}
	}
	if c.PageSize < 1 || c.PageSize > DefaultPageSize {
		errs = append(errs, fmt.Errorf("settings.pageSize %d: must be 1..%d", c.PageSize, DefaultPageSize))
	}
	if c.Timeout != "" {
		if d, err := time.ParseDuration(c.Timeout); err != nil || d <= 0 {
			errs = append(errs, fmt.Errorf("settings.timeout %q: must be a positive Go duration such as \"30s\"", c.Timeout))
		}
	}
	if c.CredentialsDir == "" {
		errs = append(errs, errors.New("credentialsDir: required (a Secret holding clientSecret, or tls.crt and tls.key)"))
	}
	return errors.Join(errs...)
}

func (c *Config) timeout() time.Duration {
	if d, err := time.ParseDuration(c.Timeout); err == nil && d > 0 {
		return d
	}
	return DefaultTimeout
}

// credentials are what credentialsDir holds: a client secret, or a certificate and key.
type credentials struct {
	secret    string
	certChain []byte
	key       []byte
}

func (c *Config) loadCredentials() (credentials, error) {
	read := func(n string) ([]byte, bool, error) {
		b, err := os.ReadFile(filepath.Join(c.CredentialsDir, n))
		if errors.Is(err, os.ErrNotExist) {
			return nil, false, nil
		}
		return b, err == nil, err
	}
	secret, hasSecret, err := read(SecretFile)
	if err != nil {
		return credentials{}, fmt.Errorf("credentialsDir %s: %w", c.CredentialsDir, err)
	}
	cert, hasCert, err := read(CertFile)
	if err != nil {
		return credentials{}, fmt.Errorf("credentialsDir %s: %w", c.CredentialsDir, err)
	}
	key, hasKey, err := read(KeyFile)
	if err != nil {
		return credentials{}, fmt.Errorf("credentialsDir %s: %w", c.CredentialsDir, err)
	}
	switch {
	case hasSecret && (hasCert || hasKey):
		return credentials{}, fmt.Errorf("credentialsDir %s: holds both %s and a certificate; keep one", c.CredentialsDir, SecretFile)
	case hasSecret:
		s := strings.TrimSpace(string(secret))
		if s == "" {
			return credentials{}, fmt.Errorf("credentialsDir %s: %s is empty", c.CredentialsDir, SecretFile)
		}
		return credentials{secret: s}, nil
	case hasCert && hasKey:
		return credentials{certChain: cert, key: key}, nil
	case hasCert || hasKey:
		return credentials{}, fmt.Errorf("credentialsDir %s: a certificate needs both %s and %s", c.CredentialsDir, CertFile, KeyFile)
	}
	return credentials{}, fmt.Errorf("credentialsDir %s: holds neither %s nor %s + %s", c.CredentialsDir, SecretFile, CertFile, KeyFile)
}

func (c *Config) rootCAs() (*x509.CertPool, error) {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if c.CAFile == "" {
		return pool, nil
	}
	pemData, err := os.ReadFile(c.CAFile)
	if err != nil {
		return nil, fmt.Errorf("settings.caFile: %w", err)
	}
	if !pool.AppendCertsFromPEM(pemData) {
		return nil, fmt.Errorf("settings.caFile %s: no PEM certificate in it", c.CAFile)
	}
	return pool, nil
}
