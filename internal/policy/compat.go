package policy

import (
	"fmt"
	"strconv"
	"strings"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
)

// Compatibility reasons (CamelCase, stable: they become PolicyCompatible condition reasons).
const (
	ReasonCompatible             = "Compatible"
	ReasonOSBuildUnknown         = "OSBuildUnknown"
	ReasonOSBuildInvalid         = "OSBuildInvalid"
	ReasonWindowsLAPSUnavailable = "WindowsLAPSUnavailable"
	ReasonNeedsNewerBuild        = "SettingNeedsNewerBuild"
)

// Compatibility says whether a device's OS build supports the values a policy chooses. Seed 002:
// "If you configure a policy with a PasswordComplexity value of 6 (long word passphrases), then
// apply that policy to an older OS which doesn't support that value, the target OS uses the
// default value" - older builds silently fall back, so the controller reports it.
type Compatibility struct {
	Compatible bool
	Reason     string
	Message    string
	// Unknown is true when the OS build is not known yet (Compatible is then true, Reason
	// OSBuildUnknown): the PolicyCompatible condition should be Unknown.
	Unknown bool
}

// Build26100 is Windows 11 24H2 and Windows Server 2025 (both build 10.0.26100).
const Build26100 = 26100

// minimumBuild is the oldest build family with Windows LAPS: Windows Server 2019 (10.0.17763)
// with the April 11 2023 update (seed 000 "Windows LAPS supported platforms").
const minimumBuild = 17763

// april2023UBR is the update build revision of the April 11 2023 cumulative update per build
// family. Seed 000 names the update by date only; these revisions are from Microsoft's update
// history pages (KB5025229, KB5025221, KB5025224, KB5025239, KB5025230) and are UNVERIFIED
// against a primary source here. Builds not listed (newer ones, e.g. 22631, 26100) ship with
// Windows LAPS.
var april2023UBR = map[int]int{
	17763: 4252, // Windows Server 2019 / Windows 10 1809 LTSC
	19044: 2846, // Windows 10 21H2
	19045: 2846, // Windows 10 22H2
	20348: 1668, // Windows Server 2022
	22000: 1817, // Windows 11 21H2
	22621: 1555, // Windows 11 22H2
}

// requirement is a value that needs at least a given build.
type requirement struct {
	setting string
	build   int
	source  string
}

// requirements lists the values of s that need a newer build than Windows LAPS's first release.
func requirements(s Settings) []requirement {
	var r []requirement
	switch s.PasswordComplexity {
	case lapsv1.ComplexityLargeAndSmallLettersNumbersAndSpecialsImprovedReadability,
		lapsv1.ComplexityPassphraseLongWords, lapsv1.ComplexityPassphraseShortWords,
		lapsv1.ComplexityPassphraseShortWordsWithUniquePrefix:
		// Seed 002 treats passphrases (6..8) and improved readability (5) as new features that
		// older OSes replace by the default 4; LAPS-REFERENCE §2: passphraselength "needs build
		// 10.0.26100" (Windows 11 24H2 / Server 2025).
		r = append(r, requirement{"passwordComplexity " + string(s.PasswordComplexity), Build26100, "older builds silently use the default value instead"})
	}
	if s.PostAuthenticationActions == lapsv1.PostAuthResetPasswordAndTerminateProcesses {
		// Seed 002: "PostAuthenticationActions value 11 is only supported in Windows 11 24H2,
		// Windows Server 2025 and later releases."
		r = append(r, requirement{"postAuthenticationActions ResetPasswordAndTerminateProcesses (11)", Build26100, "older builds silently use the default value instead"})
	}
	if s.AutomaticAccountManagement.Enabled {
		// The seeds list AutomaticAccountManagement* with no build; these settings shipped with
		// Windows 11 24H2 / Server 2025 together with passphrases (decision, see report).
		r = append(r, requirement{"automaticAccountManagement", Build26100, "shipped with Windows 11 24H2 / Server 2025"})
	}
	return r
}

// CheckCompatibility says whether a device running osBuild (e.g. "10.0.26100.2033", as the agent
// reports it; "10.0.26100" is accepted) acts on every value of s. An empty osBuild is Unknown; a
// build that does not parse is not compatible.
func CheckCompatibility(s Settings, osBuild string) Compatibility {
	if s.BackupDirectory == lapsv1.BackupDirectoryDisabled || s.BackupDirectory == "" {
		return Compatibility{Compatible: true, Reason: ReasonCompatible, Message: "backupDirectory Disabled needs no particular build"}
	}
	osBuild = strings.TrimSpace(osBuild)
	if osBuild == "" {
		return Compatibility{Compatible: true, Unknown: true, Reason: ReasonOSBuildUnknown, Message: "the device has not reported its OS build"}
	}
	build, ubr, err := parseBuild(osBuild)
	if err != nil {
		return Compatibility{Reason: ReasonOSBuildInvalid, Message: fmt.Sprintf("OS build %q: %v; expected MAJOR.MINOR.BUILD[.REVISION] such as 10.0.26100.2033", osBuild, err)}
	}
	if s.PolicyRoot != lapsv1.PolicyRootLegacyLAPS {
		if build < minimumBuild {
			return Compatibility{Reason: ReasonWindowsLAPSUnavailable, Message: fmt.Sprintf("OS build %s has no Windows LAPS: it needs Windows 10, Windows 11 or Windows Server 2019 or later with the April 11 2023 update", osBuild)}
		}
		if min, ok := april2023UBR[build]; ok && ubr >= 0 && ubr < min {
			return Compatibility{Reason: ReasonWindowsLAPSUnavailable, Message: fmt.Sprintf("OS build %s has no Windows LAPS: it needs the April 11 2023 update (10.0.%d.%d or later)", osBuild, build, min)}
		}
	}
	var missing []string
	for _, r := range requirements(s) {
		if build < r.build {
			missing = append(missing, fmt.Sprintf("%s needs build 10.0.%d or later (%s)", r.setting, r.build, r.source))
		}
	}
	if len(missing) > 0 {
		return Compatibility{Reason: ReasonNeedsNewerBuild, Message: fmt.Sprintf("OS build %s falls back to defaults: %s", osBuild, strings.Join(missing, "; "))}
	}
	return Compatibility{Compatible: true, Reason: ReasonCompatible, Message: fmt.Sprintf("OS build %s supports every value of the policy", osBuild)}
}

// parseBuild returns the build number and the update build revision (-1 when absent) of a
// Windows version string 10.0.BUILD[.UBR].
func parseBuild(v string) (build, ubr int, err error) {
	parts := strings.Split(v, ".")
	if len(parts) < 3 || len(parts) > 4 {
		return 0, 0, fmt.Errorf("want 3 or 4 dot-separated numbers, got %d part(s)", len(parts))
	}
	nums := make([]int, len(parts))
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || (len(p) > 1 && p[0] == '+') {
			return 0, 0, fmt.Errorf("part %d (%q) is not a number", i+1, p)
		}
		nums[i] = n
	}
	if nums[0] != 10 || nums[1] != 0 {
		return 0, 0, fmt.Errorf("version %d.%d is not Windows 10, Windows 11 or Windows Server 2016+ (10.0)", nums[0], nums[1])
	}
	ubr = -1
	if len(nums) == 4 {
		ubr = nums[3]
	}
	return nums[2], ubr, nil
}
