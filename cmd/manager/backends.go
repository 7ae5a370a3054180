package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"

	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/fleetlaps/fleetlaps/internal/directory"
	"github.com/fleetlaps/fleetlaps/internal/directory/ad"
	"github.com/fleetlaps/fleetlaps/internal/directoryconfig"
)

// backends maps each directory type to the backend compiled into this binary. A connection whose
// type has none makes the objects referencing it Stalled with reason DirectoryTypeUnsupported
// (Entra ID, until its backend lands).
func backends() directoryconfig.Registry {
	return directoryconfig.Registry{directory.TypeActiveDirectory: openActiveDirectory}
}

// openActiveDirectory builds the AD backend from a connection's settings. The bind password is a
// file from the connection's Secret-mounted credentialsDir (default <credentialsDir>/password);
// it never appears in the settings themselves, and unknown settings are errors.
func openActiveDirectory(name string, raw json.RawMessage, credentialsDir string) (directory.Directory, error) {
	var c ad.Config
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
	return ad.New(c, ad.Options{Logger: ctrl.Log.WithName("directory").WithValues("directory", name)})
}
