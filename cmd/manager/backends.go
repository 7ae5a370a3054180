package main

import "github.com/fleetlaps/fleetlaps/internal/directoryconfig"

// backends maps each directory type to the backend compiled into this binary. A connection whose
// type has none makes the objects referencing it Stalled with reason DirectoryTypeUnsupported.
// The Active Directory backend (internal/directory/ad, branch ad-backend) registers here when it
// is merged:
//
//	directory.TypeActiveDirectory: ad.FromConfig,
func backends() directoryconfig.Registry {
	return directoryconfig.Registry{}
}
