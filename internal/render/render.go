// Package render turns the effective settings of a LapsPolicy into the documents devices read:
// CSP SyncML (seed 003), an Intune settings-catalog policy (LAPS-REFERENCE.md §2), a Group Policy
// Registry.pol with a readable text form, and the endpoint agent's local configuration. Every
// renderer is deterministic (same Settings, same bytes) and refuses invalid input with an error
// naming the field, never returning a partial document.
package render

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
	"github.com/fleetlaps/fleetlaps/internal/policy"
)

// Formats accepted by Render (and kubectl-laps render --format).
const (
	FormatSyncML       = "syncml"
	FormatIntune       = "intune"
	FormatRegistryPol  = "registry-pol"
	FormatRegistryText = "registry-text"
	FormatAgent        = "agent"
)

// Formats lists every format in a fixed order.
var Formats = []string{FormatSyncML, FormatIntune, FormatRegistryPol, FormatRegistryText, FormatAgent}

// Artefact is one rendered document.
type Artefact struct {
	// Name is a file name, e.g. "laps-syncml.xml" or "Registry.pol".
	Name string
	// Format is one of the Format* constants.
	Format string
	// ContentType is the MIME type.
	ContentType string
	Data        []byte
}

// Option adjusts a rendering.
type Option func(*options)

type options struct {
	name, description string
}

// WithName sets the display name of documents that carry one (the Intune policy name).
func WithName(name string) Option { return func(o *options) { o.name = name } }

// WithDescription sets the description of documents that carry one (the Intune policy).
func WithDescription(d string) Option { return func(o *options) { o.description = d } }

// DefaultFormats are the artefacts of each policy root: what ForPolicy renders.
func DefaultFormats(root lapsv1.PolicyRoot) []string {
	switch root {
	case lapsv1.PolicyRootGroupPolicy, lapsv1.PolicyRootLegacyLAPS:
		return []string{FormatRegistryPol, FormatRegistryText}
	case lapsv1.PolicyRootLocalConfiguration:
		return []string{FormatAgent}
	default: // CSP, and unset (the CRD default)
		return []string{FormatSyncML, FormatIntune}
	}
}

// ForPolicy validates p (policy.Validate) and renders the artefacts of its root: CSP → SyncML and
// Intune JSON; GroupPolicy → Registry.pol and its text form; LocalConfiguration → agent JSON;
// LegacyLAPS → Registry.pol and text under the legacy AdmPwd key. The Intune policy is named
// "fleetlaps NAMESPACE/NAME" unless opts say otherwise.
func ForPolicy(p *lapsv1.LapsPolicy, opts ...Option) ([]Artefact, error) {
	if errs := policy.Validate(&p.Spec); len(errs) > 0 {
		return nil, fmt.Errorf("LapsPolicy %s: %w", p.Name, errs.ToAggregate())
	}
	s := policy.Effective(&p.Spec)
	name := "fleetlaps " + p.Namespace + "/" + p.Name
	if p.Namespace == "" {
		name = "fleetlaps " + p.Name
	}
	opts = append([]Option{WithName(name)}, opts...)
	var out []Artefact
	for _, f := range DefaultFormats(s.PolicyRoot) {
		data, err := Render(f, s, opts...)
		if err != nil {
			return nil, fmt.Errorf("LapsPolicy %s: %w", p.Name, err)
		}
		out = append(out, Artefact{Name: fileName(f), Format: f, ContentType: contentType(f), Data: data})
	}
	return out, nil
}

// Render renders s in format. s should come from policy.Effective; values out of seed 002's
// ranges are refused with an error naming the setting.
func Render(format string, s policy.Settings, opts ...Option) ([]byte, error) {
	o := options{name: "fleetlaps LAPS policy"}
	for _, opt := range opts {
		opt(&o)
	}
	known := false
	for _, f := range Formats {
		known = known || f == format
	}
	if !known {
		return nil, fmt.Errorf("format %q: unsupported, allowed: %s", format, strings.Join(Formats, ", "))
	}
	if err := check(s); err != nil {
		return nil, err
	}
	switch format {
	case FormatSyncML:
		return renderSyncML(s)
	case FormatIntune:
		return renderIntune(s, o)
	case FormatRegistryPol:
		return renderRegistryPol(s)
	case FormatRegistryText:
		return renderRegistryText(s)
	case FormatAgent:
		return renderAgent(s)
	}
	return nil, fmt.Errorf("format %q: unsupported, allowed: %s", format, strings.Join(Formats, ", "))
}

func fileName(format string) string {
	switch format {
	case FormatSyncML:
		return "laps-syncml.xml"
	case FormatIntune:
		return "laps-intune-configurationpolicy.json"
	case FormatRegistryPol:
		return "Registry.pol"
	case FormatRegistryText:
		return "Registry.txt"
	case FormatAgent:
		return "laps-agent-config.json"
	}
	return format
}

func contentType(format string) string {
	switch format {
	case FormatSyncML:
		return "application/vnd.syncml.dm+xml"
	case FormatIntune, FormatAgent:
		return "application/json"
	case FormatRegistryPol:
		return "application/octet-stream"
	}
	return "text/plain; charset=utf-8"
}

// check refuses Settings that no admitted LapsPolicy produces, naming the setting.
func check(s policy.Settings) error {
	p := field.NewPath("settings")
	var errs field.ErrorList
	if _, err := s.BackupDirectory.WindowsValue(); err != nil {
		errs = append(errs, field.NotSupported(p.Child("backupDirectory"), string(s.BackupDirectory), []string{"Disabled", "EntraID", "ActiveDirectory"}))
	}
	if s.PolicyRoot.Precedence() > 3 {
		errs = append(errs, field.NotSupported(p.Child("policyRoot"), string(s.PolicyRoot), []string{"CSP", "GroupPolicy", "LocalConfiguration", "LegacyLAPS"}))
	}
	if len(errs) == 0 && s.BackupDirectory != lapsv1.BackupDirectoryDisabled {
		rng := func(name string, v, lo, hi int32) {
			if v < lo || v > hi {
				errs = append(errs, field.Invalid(p.Child(name), v, fmt.Sprintf("must be between %d and %d (Windows LAPS policy settings)", lo, hi)))
			}
		}
		minAge := int32(1)
		if s.BackupDirectory == lapsv1.BackupDirectoryEntraID {
			minAge = 7
		}
		rng("passwordAgeDays", s.PasswordAgeDays, minAge, 365)
		if _, err := s.PasswordComplexity.WindowsValue(); err != nil {
			errs = append(errs, field.Invalid(p.Child("passwordComplexity"), string(s.PasswordComplexity), err.Error()))
		} else if s.PasswordComplexity.IsPassphrase() {
			rng("passphraseLength", s.PassphraseLength, 3, 10)
		} else {
			rng("passwordLength", s.PasswordLength, 8, 64)
		}
		if s.PolicyRoot == lapsv1.PolicyRootLegacyLAPS {
			if v, _ := s.PasswordComplexity.WindowsValue(); v > 4 {
				errs = append(errs, field.Invalid(p.Child("passwordComplexity"), string(s.PasswordComplexity), "legacy LAPS knows values 1..4 only"))
			}
		} else {
			rng("postAuthenticationResetDelay", s.PostAuthenticationResetDelay, 0, 24)
			if _, err := s.PostAuthenticationActions.WindowsValue(); err != nil {
				errs = append(errs, field.Invalid(p.Child("postAuthenticationActions"), string(s.PostAuthenticationActions), err.Error()))
			}
		}
		if s.IsActiveDirectory() {
			rng("adEncryptedPasswordHistorySize", s.ADEncryptedPasswordHistorySize, 0, 12)
		}
		if a := s.AutomaticAccountManagement; a.Enabled {
			if _, err := a.Target.WindowsValue(); err != nil {
				errs = append(errs, field.Invalid(p.Child("automaticAccountManagement", "target"), string(a.Target), err.Error()))
			}
			if a.NameOrPrefix == "" {
				errs = append(errs, field.Required(p.Child("automaticAccountManagement", "nameOrPrefix"), "name or prefix of the managed account"))
			}
		}
	}
	// Free text becomes part of every document: refuse what a format cannot carry intact (and,
	// for account names, what Windows refuses) rather than escape it into something else.
	for _, f := range []struct {
		name, v string
		account bool
	}{
		{"administratorAccountName", s.AdministratorAccountName, true},
		{"adPasswordEncryptionPrincipal", s.ADPasswordEncryptionPrincipal, false},
		{"automaticAccountManagement.nameOrPrefix", s.AutomaticAccountManagement.NameOrPrefix, true},
	} {
		switch {
		case !policy.DocumentSafe(f.v):
			errs = append(errs, field.Invalid(p.Child(f.name), f.v, "must be UTF-8 text without control characters (line breaks, tabs, NUL) or U+FFFE/U+FFFF"))
		case f.account && !policy.ValidAccountNameChars(f.v):
			errs = append(errs, field.Invalid(p.Child(f.name), f.v, `must not contain any of " / \ [ ] : ; | = , + * ? < > @ (Windows refuses them in account names)`))
		}
	}
	if len(errs) > 0 {
		return errs.ToAggregate()
	}
	return nil
}

// kind is a value's type on the wire.
type kind int

const (
	kindInt kind = iota
	kindString
	kindBool
)

// setting is one Windows LAPS value to write: Name is seed 002's setting name (the CSP node, the
// registry value name).
type setting struct {
	Name string
	Kind kind
	Int  int
	Str  string
	Bool bool
}

// settings lists what to write for s, in seed 003's example order, leaving out what does not
// apply to the backup directory (seed 002 applicability table) or the root. Settings must have
// passed check.
func settings(s policy.Settings) []setting {
	iv := func(name string, v int) setting { return setting{Name: name, Kind: kindInt, Int: v} }
	bd, _ := s.BackupDirectory.WindowsValue()
	out := []setting{iv("BackupDirectory", bd)}
	if s.BackupDirectory == lapsv1.BackupDirectoryDisabled {
		// Seed 002: "If BackupDirectory is set to Disabled, all other settings are ignored."
		return out
	}
	cx, _ := s.PasswordComplexity.WindowsValue()
	out = append(out, iv("PasswordAgeDays", int(s.PasswordAgeDays)), iv("PasswordComplexity", cx))
	if s.PasswordComplexity.IsPassphrase() {
		out = append(out, iv("PassphraseLength", int(s.PassphraseLength)))
	} else {
		out = append(out, iv("PasswordLength", int(s.PasswordLength)))
	}
	if s.AdministratorAccountName != "" {
		out = append(out, setting{Name: "AdministratorAccountName", Kind: kindString, Str: s.AdministratorAccountName})
	}
	if s.IsActiveDirectory() {
		out = append(out,
			setting{Name: "PasswordExpirationProtectionEnabled", Kind: kindBool, Bool: s.PasswordExpirationProtectionEnabled})
		if s.PolicyRoot != lapsv1.PolicyRootLegacyLAPS {
			out = append(out, setting{Name: "ADPasswordEncryptionEnabled", Kind: kindBool, Bool: s.ADPasswordEncryptionEnabled})
			if s.ADPasswordEncryptionEnabled {
				if s.ADPasswordEncryptionPrincipal != "" {
					out = append(out, setting{Name: "ADPasswordEncryptionPrincipal", Kind: kindString, Str: s.ADPasswordEncryptionPrincipal})
				}
				out = append(out, iv("ADEncryptedPasswordHistorySize", int(s.ADEncryptedPasswordHistorySize)))
				if s.PolicyRoot != lapsv1.PolicyRootCSP {
					// Seed 002: the LAPS CSP does not support ADBackupDSRMPassword.
					out = append(out, setting{Name: "ADBackupDSRMPassword", Kind: kindBool, Bool: s.ADBackupDSRMPassword})
				}
			}
		}
	}
	if s.PolicyRoot == lapsv1.PolicyRootLegacyLAPS {
		return out
	}
	pa, _ := s.PostAuthenticationActions.WindowsValue()
	out = append(out, iv("PostAuthenticationResetDelay", int(s.PostAuthenticationResetDelay)), iv("PostAuthenticationActions", pa))
	if a := s.AutomaticAccountManagement; a.Enabled {
		t, _ := a.Target.WindowsValue()
		out = append(out,
			setting{Name: "AutomaticAccountManagementEnabled", Kind: kindBool, Bool: true},
			iv("AutomaticAccountManagementTarget", t),
			setting{Name: "AutomaticAccountManagementNameOrPrefix", Kind: kindString, Str: a.NameOrPrefix},
			setting{Name: "AutomaticAccountManagementEnableAccount", Kind: kindBool, Bool: a.EnableAccount},
			setting{Name: "AutomaticAccountManagementRandomizeName", Kind: kindBool, Bool: a.RandomizeName},
		)
	}
	return out
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
