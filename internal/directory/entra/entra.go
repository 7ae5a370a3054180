// Package entra is the Entra ID / Intune directory backend on Microsoft Graph (msgraph-sdk-go and
// azidentity; the only package that imports them, since their cold build is slow). It reads LAPS
// metadata only (DeviceLocalCredential.ReadBasic.All: never the credentials), rotates through the
// Intune rotateLocalAdminPassword action, and publishes LapsPolicy objects as settings-catalog
// configuration policies assigned to Entra groups.
package entra

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	msgraphcore "github.com/microsoftgraph/msgraph-sdk-go-core"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/fleetlaps/fleetlaps/internal/directory"
)

// Options are what the manager (or the demo) adds to a connection's settings.
type Options struct {
	// Now is the clock that dates rotation intents against Graph's times (default time.Now).
	Now func() time.Time
	// Logger receives structured logs; never a credential.
	Logger logr.Logger
}

// Backend is one Entra ID connection. Safe for concurrent use.
type Backend struct {
	cfg     Config
	opts    Options
	adapter *msgraphcore.GraphRequestAdapterBase
	log     logr.Logger

	mu   sync.Mutex
	last *directory.Snapshot
	// managedIDs caches the Intune managed device id of an Entra deviceId, as the backend
	// looked it up itself.
	managedIDs map[string]string
	// policyIDs caches the configuration policy id of a published name.
	policyIDs map[string]string
}

var (
	_ directory.Directory          = (*Backend)(nil)
	_ directory.PolicyPublisher    = (*Backend)(nil)
	_ directory.AssigningPublisher = (*Backend)(nil)
	_ directory.TenantLAPSChecker  = (*Backend)(nil)
)

// OpenFromSettings builds the backend of a directories-file connection of type entraID.
func OpenFromSettings(name string, raw json.RawMessage, credentialsDir string) (directory.Directory, error) {
	return SettingsOpener(Options{})(name, raw, credentialsDir)
}

// SettingsOpener is OpenFromSettings with options (the demo's simulated clock).
func SettingsOpener(opts Options) func(string, json.RawMessage, string) (directory.Directory, error) {
	return func(name string, raw json.RawMessage, credentialsDir string) (directory.Directory, error) {
		c, err := ParseSettings(name, raw, credentialsDir)
		if err != nil {
			return nil, err
		}
		return New(c, opts)
	}
}

// New builds a backend from a validated Config. No request is sent until the first call.
func New(c Config, opts Options) (*Backend, error) {
	c.withDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	adapter, err := newAdapter(&c)
	if err != nil {
		return nil, err
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger.GetSink() == nil {
		opts.Logger = ctrl.Log.WithName("directory")
	}
	return &Backend{
		cfg: c, opts: opts, adapter: adapter, log: opts.Logger.WithValues("directory", c.Name),
		managedIDs: map[string]string{}, policyIDs: map[string]string{},
	}, nil
}

func (b *Backend) Name() string         { return b.cfg.Name }
func (b *Backend) Type() directory.Type { return directory.TypeEntraID }
func (b *Backend) Close() error         { return nil }

// CheckSchema: Entra ID has no schema extension to install; LAPS is a tenant switch
// (TenantLAPSEnabled).
func (b *Backend) CheckSchema(context.Context) (directory.SchemaReport, error) {
	return directory.SchemaReport{}, nil
}

// ResolvePrincipal: adPasswordEncryptionPrincipal names an AD user or group, which an Entra
// connection cannot resolve.
func (b *Backend) ResolvePrincipal(_ context.Context, name string) (string, error) {
	return "", directory.NewError(directory.ErrNotFound, b.cfg.Name, "resolvePrincipal",
		errors.New("an Entra ID connection cannot resolve the Active Directory principal "+name))
}

func lower(s string) string { return strings.ToLower(s) }
