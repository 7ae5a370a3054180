package ad

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"

	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/fleetlaps/fleetlaps/internal/directory"
)

// OpenFromSettings builds the AD backend for a named connection of the manager's --directories
// file. raw is the connection's settings (a Config without name); the bind password is a file
// from the connection's Secret-mounted credentialsDir (default <credentialsDir>/password), never
// a setting, and unknown settings (such as a bindPassword key) are errors.
func OpenFromSettings(name string, raw json.RawMessage, credentialsDir string) (directory.Directory, error) {
	return SettingsOpener(Options{})(name, raw, credentialsDir)
}

// SettingsOpener is OpenFromSettings with backend options (e.g. the demo's simulated clock as
// Now). An unset Logger becomes the manager's "directory" logger.
func SettingsOpener(opts Options) func(name string, raw json.RawMessage, credentialsDir string) (directory.Directory, error) {
	return func(name string, raw json.RawMessage, credentialsDir string) (directory.Directory, error) {
		return openFromSettings(name, raw, credentialsDir, opts)
	}
}

func openFromSettings(name string, raw json.RawMessage, credentialsDir string, opts Options) (directory.Directory, error) {
	var c Config
	if len(raw) > 0 {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&c); err != nil {
			return nil, fmt.Errorf("directory %q settings: %w", name, err)
		}
	}
	c.Name = name
	if c.PasswordFile == "" && credentialsDir != "" {
		c.PasswordFile = filepath.Join(credentialsDir, "password")
	}
	if g := c.GroupPolicy; g != nil && g.PasswordFile == "" && credentialsDir != "" {
		g.PasswordFile = filepath.Join(credentialsDir, "gpo-password")
	}
	if opts.Logger.GetSink() == nil {
		opts.Logger = ctrl.Log.WithName("directory") // New adds the "directory" key
	}
	d, err := New(c, opts)
	if err != nil {
		// Not New's typed nil: a non-nil interface holding a nil *Directory.
		return nil, err
	}
	return d, nil
}
