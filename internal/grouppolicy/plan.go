package grouppolicy

import (
	"bytes"
	"fmt"
	"strings"
)

// Container attribute values the controller writes (MS-GPOL 2.2.3; samba-tool gpo create writes
// the same): a client ignores an object whose gPCFunctionalityVersion is not 2, and flags 0
// enables both halves.
const (
	FunctionalityVersion = "2"
	FlagsEnabled         = "0"
)

// Machine extension names: the Registry client-side extension paired with the tool that edits
// its settings, as Group Policy Management writes them. Windows LAPS reads its settings as
// ordinary registry policy. Legacy Microsoft LAPS additionally has its own client-side extension
// (AdmPwd), listed for LegacyLAPS objects so its CSE processes the object.
const (
	RegistryExtensions   = "[{35378EAC-683F-11D2-A89A-00C04FBBCFA2}{D02B1F72-3407-48AE-BA88-E8213C6761F1}]"
	LegacyLAPSExtensions = "[{35378EAC-683F-11D2-A89A-00C04FBBCFA2}{D02B1F72-3407-48AE-BA88-E8213C6761F1}][{D76B9641-3288-4F75-942D-087DE603E3EA}{D02B1F72-3407-48AE-BA88-E8213C6761F1}]"
)

// Observed is what the domain holds for one Group Policy object of the controller.
type Observed struct {
	DisplayName          string
	Flags                string
	FunctionalityVersion string
	FileSysPath          string
	MachineExtensions    string
	// Version is the container's versionNumber.
	Version uint32
	// GPTINI is the template's GPT.INI (nil: missing).
	GPTINI []byte
	// RegistryPol is Machine\Registry.pol (nil: missing).
	RegistryPol []byte
}

// Desired is what the LapsPolicy declares for the object.
type Desired struct {
	DisplayName       string
	FileSysPath       string
	MachineExtensions string
	RegistryPol       []byte
}

// Plan is what to write to make Observed equal Desired, in the order the writes must happen:
// Registry.pol, then GPT.INI, then the container's attributes with versionNumber, so a client
// never sees a new version with old content.
type Plan struct {
	// Differences name what differed, for the drift condition and event.
	Differences []string
	// WriteRegistryPol writes Desired.RegistryPol.
	WriteRegistryPol bool
	// WriteVersion writes Version to GPT.INI and then versionNumber.
	WriteVersion bool
	Version      uint32
	// Attributes are container attributes to replace (besides versionNumber).
	Attributes map[string]string
}

// Empty says nothing needs writing.
func (p Plan) Empty() bool {
	return !p.WriteRegistryPol && !p.WriteVersion && len(p.Attributes) == 0
}

// PlanTemplate compares o with d. Content that differs is written with the machine half bumped
// once from the larger of the two recorded versions (a client may have cached either); versions
// that disagree with unchanged content are made equal with a bump as well, so every client
// re-reads the object.
func PlanTemplate(o Observed, d Desired) Plan {
	p := Plan{Attributes: map[string]string{}}
	attr := func(name, got, want string, equal func(a, b string) bool) {
		if !equal(got, want) {
			p.Attributes[name] = want
			p.Differences = append(p.Differences, fmt.Sprintf("%s is %q, want %q", name, got, want))
		}
	}
	exact := func(a, b string) bool { return a == b }
	attr("displayName", o.DisplayName, d.DisplayName, exact)
	attr("flags", o.Flags, FlagsEnabled, exact)
	attr("gPCFunctionalityVersion", o.FunctionalityVersion, FunctionalityVersion, exact)
	attr("gPCFileSysPath", o.FileSysPath, d.FileSysPath, strings.EqualFold)
	attr("gPCMachineExtensionNames", o.MachineExtensions, d.MachineExtensions, strings.EqualFold)

	base := o.Version
	gptVersion, gptErr := uint32(0), error(nil)
	switch {
	case o.GPTINI == nil:
		gptErr = fmt.Errorf("GPT.INI is missing")
	default:
		gptVersion, gptErr = ParseGPTINIVersion(o.GPTINI)
	}
	if gptErr != nil {
		p.Differences = append(p.Differences, gptErr.Error())
		p.WriteVersion = true
	} else if gptVersion != o.Version {
		p.Differences = append(p.Differences, fmt.Sprintf("GPT.INI version %d and versionNumber %d disagree", gptVersion, o.Version))
		p.WriteVersion = true
		base = max(base, gptVersion)
	}
	switch {
	case o.RegistryPol == nil:
		p.Differences = append(p.Differences, `Machine\Registry.pol is missing`)
		p.WriteRegistryPol = true
	case !bytes.Equal(o.RegistryPol, d.RegistryPol):
		p.Differences = append(p.Differences, fmt.Sprintf(`Machine\Registry.pol content differs (%d bytes, want %d)`, len(o.RegistryPol), len(d.RegistryPol)))
		p.WriteRegistryPol = true
	}
	if p.WriteRegistryPol || p.WriteVersion {
		p.WriteVersion = true
		p.Version = BumpMachine(base)
	}
	if len(p.Attributes) == 0 {
		p.Attributes = nil
	}
	return p
}
