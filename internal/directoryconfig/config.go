// Package directoryconfig reads the manager's --directories file (mounted from a ConfigMap): the
// named directory connections that LapsPolicy and ManagedDevice objects reference. Tenants never
// supply URLs or credentials in a CR; credentials come from Secret-mounted directories.
package directoryconfig

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"

	"github.com/fleetlaps/fleetlaps/internal/directory"
)

// File is the whole --directories document.
//
//	directories:
//	- name: corp
//	  type: activeDirectory
//	  credentialsDir: /etc/fleetlaps/directories/corp   # a mounted Secret
//	  settings:                                          # the backend's own settings (ad.Config)
//	    urls: ["ldaps://dc1.corp.example:636", "ldaps://dc2.corp.example:636"]
//	    bindDN: "CN=svc-fleetlaps,OU=Service Accounts,DC=corp,DC=example"
//	    searchBases: ["OU=Workstations,DC=corp,DC=example"]
//	  discovery: {enabled: true, namespace: fleet, searchBase: "OU=Workstations,DC=corp,DC=example"}
//	  namespaces: [fleet, frontline]                     # who may use the connection
//	  namespaceSelector: {matchLabels: {laps.fleetlaps.io/tenant: corp}}
type File struct {
	Directories []Connection `json:"directories"`
}

// Connection is one named directory connection.
type Connection struct {
	// Name is what directoryRef.name refers to.
	Name string `json:"name"`
	// Type is activeDirectory or entraID.
	Type directory.Type `json:"type"`
	// Settings are the backend's own settings, passed through raw (ad.Config for activeDirectory).
	Settings json.RawMessage `json:"settings,omitempty"`
	// CredentialsDir is the directory a Secret is mounted at; the backend reads its files.
	CredentialsDir string `json:"credentialsDir,omitempty"`
	// SyncInterval overrides --sync-interval for this connection.
	SyncInterval *metav1.Duration `json:"syncInterval,omitempty"`
	// UnavailableGracePeriod is how long the directory may be unreachable before devices report
	// Ready=False with reason DirectoryUnavailable (default 3 sync intervals).
	UnavailableGracePeriod *metav1.Duration `json:"unavailableGracePeriod,omitempty"`
	// Discovery creates ManagedDevice objects for directory devices that have none.
	Discovery *Discovery `json:"discovery,omitempty"`
	// Namespaces may use this connection (see Allows). With neither Namespaces nor
	// NamespaceSelector set, no namespace may; the discovery namespace always may.
	Namespaces []string `json:"namespaces,omitempty"`
	// NamespaceSelector admits the namespaces whose labels match; {} admits every namespace.
	NamespaceSelector *metav1.LabelSelector `json:"namespaceSelector,omitempty"`
}

// EffectiveSyncInterval is the connection's syncInterval, or def (--sync-interval) without one.
func (c Connection) EffectiveSyncInterval(def time.Duration) time.Duration {
	if c.SyncInterval != nil {
		return c.SyncInterval.Duration
	}
	return def
}

// Discovery configures creation of ManagedDevices from directory records.
type Discovery struct {
	Enabled bool `json:"enabled"`
	// Namespace the discovered ManagedDevices are created in.
	Namespace string `json:"namespace"`
	// SearchBase limits discovery to AD objects whose DN ends with it (case-insensitive).
	SearchBase string `json:"searchBase,omitempty"`
	// Labels are added to every discovered device.
	Labels map[string]string `json:"labels,omitempty"`
}

var nameRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// Parse decodes and validates a --directories document. Unknown fields are errors.
func Parse(data []byte) (*File, error) {
	var f File
	if err := yaml.UnmarshalStrict(data, &f); err != nil {
		return nil, fmt.Errorf("directories file: %w", err)
	}
	if errs := f.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("directories file: %w", errs.ToAggregate())
	}
	return &f, nil
}

// Load reads and parses the file at path.
func Load(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("directories file: %w", err)
	}
	return Parse(data)
}

// Validate returns every problem with a field path, e.g. directories[1].type.
func (f *File) Validate() field.ErrorList {
	var errs field.ErrorList
	root := field.NewPath("directories")
	seen := map[string]int{}
	for i, c := range f.Directories {
		p := root.Index(i)
		switch {
		case c.Name == "":
			errs = append(errs, field.Required(p.Child("name"), "every connection needs a name"))
		case len(c.Name) > 63 || !nameRE.MatchString(c.Name):
			errs = append(errs, field.Invalid(p.Child("name"), c.Name, "must be a DNS label (lower-case letters, digits, '-'; at most 63 characters)"))
		default:
			if j, dup := seen[c.Name]; dup {
				errs = append(errs, field.Duplicate(p.Child("name"), fmt.Sprintf("%s (also directories[%d])", c.Name, j)))
			}
			seen[c.Name] = i
		}
		switch c.Type {
		case directory.TypeActiveDirectory, directory.TypeEntraID:
		case "":
			errs = append(errs, field.Required(p.Child("type"), "activeDirectory or entraID"))
		default:
			errs = append(errs, field.NotSupported(p.Child("type"), c.Type, []string{string(directory.TypeActiveDirectory), string(directory.TypeEntraID)}))
		}
		if len(c.Settings) > 0 {
			var obj map[string]any
			if err := json.Unmarshal(c.Settings, &obj); err != nil {
				errs = append(errs, field.Invalid(p.Child("settings"), string(c.Settings), "must be a mapping"))
			}
		}
		if c.SyncInterval != nil && c.SyncInterval.Duration < 10*time.Second {
			errs = append(errs, field.Invalid(p.Child("syncInterval"), c.SyncInterval.Duration.String(), "must be at least 10s"))
		}
		if c.UnavailableGracePeriod != nil && c.UnavailableGracePeriod.Duration < 0 {
			errs = append(errs, field.Invalid(p.Child("unavailableGracePeriod"), c.UnavailableGracePeriod.Duration.String(), "must not be negative"))
		}
		if d := c.Discovery; d != nil && d.Enabled && d.Namespace == "" {
			errs = append(errs, field.Required(p.Child("discovery", "namespace"), "discovered ManagedDevices need a namespace"))
		}
		if d := c.Discovery; d != nil && d.Namespace != "" && len(validation.IsDNS1123Label(d.Namespace)) > 0 {
			errs = append(errs, field.Invalid(p.Child("discovery", "namespace"), d.Namespace, "must be a namespace name (a DNS label)"))
		}
		errs = append(errs, validateAccess(p, c)...)
	}
	return errs
}

// Names returns the connection names, sorted.
func (f *File) Names() []string {
	out := make([]string, 0, len(f.Directories))
	for _, c := range f.Directories {
		out = append(out, c.Name)
	}
	slices.Sort(out)
	return out
}

// Constructor builds a backend for one connection.
type Constructor func(name string, raw json.RawMessage, secretDir string) (directory.Directory, error)

// Registry maps a connection type to the backend compiled into this binary.
type Registry map[directory.Type]Constructor

// Errors returned by Set.Lookup; test with errors.Is.
var (
	// ErrUnknownDirectory: no connection of that name is configured. Stalled, reason
	// UnknownDirectory.
	ErrUnknownDirectory = errors.New("UnknownDirectory")
	// ErrTypeUnsupported: the connection's type has no backend compiled in. Stalled, reason
	// DirectoryTypeUnsupported.
	ErrTypeUnsupported = errors.New("DirectoryTypeUnsupported")
	// ErrConnectionInvalid: the backend rejected the connection's settings. Stalled, reason
	// DirectoryConfigInvalid.
	ErrConnectionInvalid = errors.New("DirectoryConfigInvalid")
)

// Entry is one opened connection: its config and either a backend or the reason there is none.
type Entry struct {
	Config    Connection
	Directory directory.Directory
	Err       error
}

// Set holds the opened connections by name. It is immutable after Open.
type Set struct {
	entries map[string]*Entry
	names   []string
}

// Open builds every connection with the registry. A connection whose type has no constructor or
// whose constructor fails is kept with its error, so objects referencing it are Stalled with a
// precise reason instead of the whole manager failing.
func Open(f *File, reg Registry) *Set {
	s := &Set{entries: map[string]*Entry{}, names: f.Names()}
	for _, c := range f.Directories {
		e := &Entry{Config: c}
		ctor, ok := reg[c.Type]
		switch {
		case !ok:
			e.Err = fmt.Errorf("%w: directory %q has type %s, and this build has no %s backend", ErrTypeUnsupported, c.Name, c.Type, c.Type)
		default:
			d, err := ctor(c.Name, c.Settings, c.CredentialsDir)
			if err != nil {
				e.Err = fmt.Errorf("%w: directory %q: %v", ErrConnectionInvalid, c.Name, err)
			} else {
				e.Directory = d
			}
		}
		s.entries[c.Name] = e
	}
	return s
}

// NewSet wraps already-built directories (tests, demo). Every namespace may use them
// (namespaceSelector: {}); tests of the namespace gate use Add with their own Connection.
func NewSet(dirs ...directory.Directory) *Set {
	s := &Set{entries: map[string]*Entry{}}
	for _, d := range dirs {
		s.entries[d.Name()] = &Entry{Config: Connection{Name: d.Name(), Type: d.Type(), NamespaceSelector: &metav1.LabelSelector{}}, Directory: d}
		s.names = append(s.names, d.Name())
	}
	slices.Sort(s.names)
	return s
}

// Add registers an entry (tests use it for a connection without a backend).
func (s *Set) Add(e *Entry) {
	s.entries[e.Config.Name] = e
	if !slices.Contains(s.names, e.Config.Name) {
		s.names = append(s.names, e.Config.Name)
		slices.Sort(s.names)
	}
}

// Names returns the configured connection names, sorted.
func (s *Set) Names() []string { return slices.Clone(s.names) }

// Entries returns every entry in name order.
func (s *Set) Entries() []*Entry {
	out := make([]*Entry, 0, len(s.names))
	for _, n := range s.names {
		out = append(out, s.entries[n])
	}
	return out
}

// Lookup returns the connection named name, or an error wrapping ErrUnknownDirectory (its message
// lists the known names), ErrTypeUnsupported or ErrConnectionInvalid.
func (s *Set) Lookup(name string) (*Entry, error) {
	e, ok := s.entries[name]
	if !ok {
		known := "none are configured"
		if len(s.names) > 0 {
			known = "known: " + strings.Join(s.names, ", ")
		}
		return nil, fmt.Errorf("%w: directory %q is not configured (%s)", ErrUnknownDirectory, name, known)
	}
	if e.Err != nil {
		return e, e.Err
	}
	return e, nil
}

// Reason maps a Lookup error to a condition reason.
func Reason(err error) string {
	for _, e := range []error{ErrUnknownDirectory, ErrTypeUnsupported, ErrConnectionInvalid, ErrNamespaceNotAllowed} {
		if errors.Is(err, e) {
			return e.Error()
		}
	}
	return "DirectoryError"
}
