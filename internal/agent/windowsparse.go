package agent

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/fleetlaps/fleetlaps/internal/adsyntax"
	"github.com/fleetlaps/fleetlaps/internal/render"
	"github.com/fleetlaps/fleetlaps/internal/report"
)

// What the Windows collection reads, parsed here in plain Go so it is tested on any OS.

// Registry value types [MS-RRP] beyond render's REG_SZ and REG_DWORD.
const (
	RegBinary uint32 = 3
	RegQWORD  uint32 = 11
)

// RawValue is one registry value as read.
type RawValue struct {
	Name   string
	Type   uint32
	DWord  uint32
	QWord  uint64
	SZ     string
	Binary []byte
}

// PolicyRoot is one Windows LAPS policy root and its key under HKLM.
type PolicyRoot struct {
	Name string
	Key  string
}

// PolicyRoots in the order Windows LAPS queries them: "starting at the top and moving down ...
// When a root that has at least one explicitly defined setting is found, that root is used as
// the active policy" (seed 002, Supported policy roots).
var PolicyRoots = []PolicyRoot{
	{"CSP", render.CSPKey},
	{"GroupPolicy", render.GroupPolicyKey},
	{"LocalConfiguration", render.LocalConfigurationKey},
	{"LegacyLAPS", render.LegacyLAPSKey},
}

// ActiveRoot picks the first root with at least one setting and returns its REG_SZ and
// REG_DWORD values (the only types Windows LAPS settings have; others are not settings).
func ActiveRoot(values map[string][]RawValue) (string, []render.RegistryValue) {
	for _, root := range PolicyRoots {
		var out []render.RegistryValue
		for _, v := range values[root.Name] {
			switch v.Type {
			case render.RegSZ:
				out = append(out, render.RegistryValue{Key: root.Key, Name: v.Name, Type: render.RegSZ, SZ: v.SZ})
			case render.RegDWORD:
				out = append(out, render.RegistryValue{Key: root.Key, Name: v.Name, Type: render.RegDWORD, DWord: v.DWord})
			}
		}
		if len(out) > 0 {
			return root.Name, out
		}
	}
	return "", nil
}

// FormatOSBuild builds major.minor.build.revision from HKLM\SOFTWARE\Microsoft\Windows
// NT\CurrentVersion: CurrentMajorVersionNumber, CurrentMinorVersionNumber (REG_DWORD),
// CurrentBuildNumber (REG_SZ) and UBR (REG_DWORD, the update build revision).
func FormatOSBuild(major, minor uint32, build string, ubr uint32) (string, error) {
	b, err := strconv.ParseUint(strings.TrimSpace(build), 10, 32)
	if err != nil {
		return "", fmt.Errorf("CurrentBuildNumber %q is not a number", build)
	}
	return fmt.Sprintf("%d.%d.%d.%d", major, minor, b, ubr), nil
}

// ParseBootMode reads HKLM\SYSTEM\CurrentControlSet\Control\SystemStartOptions, the options
// the system booted with: SAFEBOOT:DSREPAIR is Directory Services Repair Mode, any other
// SAFEBOOT option safe mode.
func ParseBootMode(startOptions string) string {
	for _, opt := range strings.Fields(strings.ToUpper(startOptions)) {
		switch {
		case opt == "SAFEBOOT:DSREPAIR":
			return "DSRM"
		case strings.HasPrefix(opt, "SAFEBOOT:"):
			return "SafeMode"
		}
	}
	return "Normal"
}

// eventXML is what EvtRender (EvtRenderEventXml) and EvtFormatMessage (EvtFormatMessageXml)
// return for an event; RenderingInfo carries the formatted message.
type eventXML struct {
	System struct {
		EventID     string `xml:"EventID"`
		TimeCreated struct {
			SystemTime string `xml:"SystemTime,attr"`
		} `xml:"TimeCreated"`
	} `xml:"System"`
	EventData struct {
		Data []struct {
			Name  string `xml:"Name,attr"`
			Value string `xml:",chardata"`
		} `xml:"Data"`
	} `xml:"EventData"`
	RenderingInfo struct {
		Message string `xml:"Message"`
	} `xml:"RenderingInfo"`
}

// resultCodeData names the EventData fields that hold a LAPS event's error or reason code.
var resultCodeData = map[string]bool{"ErrorCode": true, "HResult": true, "Hr": true, "Reason": true, "Status": true}

// ParseEventXML reads one event of the Microsoft-Windows-LAPS/Operational channel.
func ParseEventXML(data []byte) (report.Event, error) {
	var x eventXML
	if err := xml.Unmarshal(data, &x); err != nil {
		return report.Event{}, fmt.Errorf("event XML: %w", err)
	}
	id, err := strconv.ParseInt(strings.TrimSpace(x.System.EventID), 10, 32)
	if err != nil || id < 1 || id > 65535 {
		return report.Event{}, fmt.Errorf("event XML: EventID %q is not an event id", x.System.EventID)
	}
	t, err := time.Parse(time.RFC3339Nano, x.System.TimeCreated.SystemTime)
	if err != nil {
		return report.Event{}, fmt.Errorf("event XML: TimeCreated %q: %w", x.System.TimeCreated.SystemTime, err)
	}
	e := report.Event{ID: int32(id), Time: t.UTC(), Message: strings.Join(strings.Fields(x.RenderingInfo.Message), " ")}
	for _, d := range x.EventData.Data {
		if !resultCodeData[d.Name] {
			continue
		}
		if c, ok := parseCode(d.Value); ok {
			e.ResultCode = c
			break
		}
	}
	return e, nil
}

func parseCode(s string) (uint32, bool) {
	s = strings.TrimSpace(s)
	base := 10
	if h, ok := strings.CutPrefix(strings.ToLower(s), "0x"); ok {
		s, base = h, 16
	}
	v, err := strconv.ParseUint(s, base, 32)
	return uint32(v), err == nil
}

// Local state under HKLM\Software\Microsoft\Windows\CurrentVersion\LAPS\State. UNVERIFIED: the
// value names come from no seed and were not read on a real device; the parser takes the
// version as a GUID string or 16 bytes and the expiry as a FILETIME QWORD.
const (
	LocalStateKey             = `Software\Microsoft\Windows\CurrentVersion\LAPS\State`
	localPasswordVersionValue = "LastPasswordVersion"
	localExpirationValue      = "PasswordExpirationTime"
)

var guidText = regexp.MustCompile(`^\{?([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})\}?$`)

// ParseLocalState reads the device's password version and local expiry from the State key's
// values; a value missing or of another shape is left empty.
func ParseLocalState(values []RawValue) (version string, expiry time.Time) {
	for _, v := range values {
		switch {
		case strings.EqualFold(v.Name, localPasswordVersionValue) && v.Type == render.RegSZ:
			if m := guidText.FindStringSubmatch(strings.TrimSpace(v.SZ)); m != nil {
				version = strings.ToLower(m[1])
			}
		case strings.EqualFold(v.Name, localPasswordVersionValue) && v.Type == RegBinary:
			if g, err := adsyntax.ParseGUID(v.Binary); err == nil {
				version = g
			}
		case strings.EqualFold(v.Name, localExpirationValue) && v.Type == RegQWORD && v.QWord > 0 && v.QWord < uint64(adsyntax.FiletimeNever):
			if ft, err := adsyntax.ParseFiletime(strconv.FormatUint(v.QWord, 10)); err == nil && !ft.Never {
				expiry = ft.Time
			}
		}
	}
	return version, expiry
}

// PlanLocalConfiguration reads an agent local configuration document (kubectl laps render
// --format agent) and says what to write under its key: the values to set (those missing or
// different) and the names to delete (present but not in the document), so the key ends up
// holding exactly the policy.
func PlanLocalConfiguration(doc []byte, existing []RawValue) (key string, set []render.RegistryValue, remove []string, err error) {
	var cfg render.AgentConfig
	dec := json.NewDecoder(strings.NewReader(string(doc)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		return "", nil, nil, fmt.Errorf("agent configuration: %w", err)
	}
	if cfg.Kind != render.AgentConfigKind || cfg.Hive != "HKLM" || (cfg.Key != render.LocalConfigurationKey && cfg.Key != render.LegacyLAPSKey) {
		return "", nil, nil, fmt.Errorf("agent configuration: kind %q hive %q key %q: expected %s for HKLM\\%s", cfg.Kind, cfg.Hive, cfg.Key, render.AgentConfigKind, render.LocalConfigurationKey)
	}
	have := map[string]RawValue{}
	for _, v := range existing {
		have[strings.ToLower(v.Name)] = v
	}
	want := map[string]bool{}
	for _, v := range cfg.Values {
		rv := render.RegistryValue{Key: cfg.Key, Name: v.Name}
		switch data := v.Data.(type) {
		case string:
			if v.Type != "REG_SZ" {
				return "", nil, nil, fmt.Errorf("agent configuration: value %s: type %s with string data", v.Name, v.Type)
			}
			rv.Type, rv.SZ = render.RegSZ, data
		case float64:
			if v.Type != "REG_DWORD" || data < 0 || data > 0xFFFFFFFF || data != float64(uint32(data)) {
				return "", nil, nil, fmt.Errorf("agent configuration: value %s: %v is not a REG_DWORD", v.Name, data)
			}
			rv.Type, rv.DWord = render.RegDWORD, uint32(data)
		default:
			return "", nil, nil, fmt.Errorf("agent configuration: value %s: data must be a string or a number", v.Name)
		}
		want[strings.ToLower(v.Name)] = true
		if h, ok := have[strings.ToLower(v.Name)]; ok && h.Type == rv.Type && h.DWord == rv.DWord && h.SZ == rv.SZ {
			continue
		}
		set = append(set, rv)
	}
	for _, v := range existing {
		if !want[strings.ToLower(v.Name)] {
			remove = append(remove, v.Name)
		}
	}
	return cfg.Key, set, remove, nil
}
