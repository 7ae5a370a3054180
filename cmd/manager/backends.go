package main

import (
	"github.com/fleetlaps/fleetlaps/internal/directory"
	"github.com/fleetlaps/fleetlaps/internal/directory/ad"
	"github.com/fleetlaps/fleetlaps/internal/directory/entra"
	"github.com/fleetlaps/fleetlaps/internal/directoryconfig"
)

// backends maps each directory type to the backend compiled into this binary. A connection whose
// type has none makes the objects referencing it Stalled with reason DirectoryTypeUnsupported.
func backends() directoryconfig.Registry {
	return directoryconfig.Registry{
		directory.TypeActiveDirectory: ad.OpenFromSettings,
		directory.TypeEntraID:         entra.OpenFromSettings,
	}
}
