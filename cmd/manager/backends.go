package main

import "github.com/fleetlaps/fleetlaps/internal/directoryconfig"

// backends maps each directory type to the backend compiled into this binary. A connection whose
// type has none makes the objects referencing it Stalled with reason DirectoryTypeUnsupported.
//
// The Active Directory backend (internal/directory/ad, branch ad-backend: ad.New(ad.Config,
// ad.Options)) plugs in once merged, e.g.:
//
//	directory.TypeActiveDirectory: func(name string, raw json.RawMessage, secretDir string) (directory.Directory, error) {
//		var c ad.Config
//		if err := yaml.UnmarshalStrict(raw, &c); err != nil {
//			return nil, err
//		}
//		c.Name = name
//		if c.PasswordFile == "" && secretDir != "" {
//			c.PasswordFile = filepath.Join(secretDir, "password")
//		}
//		return ad.New(c, ad.Options{Logger: ctrl.Log.WithName("ad").WithValues("directory", name)})
//	},
func backends() directoryconfig.Registry {
	return directoryconfig.Registry{}
}
