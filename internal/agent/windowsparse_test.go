package agent

import (
	"strings"
	"testing"
	"time"

	"github.com/fleetlaps/fleetlaps/internal/adsyntax"
	"github.com/fleetlaps/fleetlaps/internal/render"
)

func TestActiveRoot_followsWindowsOrder(t *testing.T) {
	gp := []RawValue{{Name: "BackupDirectory", Type: render.RegDWORD, DWord: 2}, {Name: "Binary", Type: RegBinary, Binary: []byte{1}}}
	local := []RawValue{{Name: "BackupDirectory", Type: render.RegDWORD, DWord: 1}}
	cases := map[string]struct {
		roots map[string][]RawValue
		want  string
		n     int
	}{
		"should pick GroupPolicy over LocalConfiguration": {roots: map[string][]RawValue{"GroupPolicy": gp, "LocalConfiguration": local}, want: "GroupPolicy", n: 1},
		"should skip a root without settings":             {roots: map[string][]RawValue{"CSP": {{Name: "x", Type: RegBinary}}, "LocalConfiguration": local}, want: "LocalConfiguration", n: 1},
		"should report no root when none holds a setting": {roots: map[string][]RawValue{}, want: ""},
		"should pick CSP over everything":                 {roots: map[string][]RawValue{"CSP": local, "GroupPolicy": gp}, want: "CSP", n: 1},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			root, vals := ActiveRoot(c.roots)
			if root != c.want || len(vals) != c.n {
				t.Fatalf("ActiveRoot = %s with %d values, want %s with %d", root, len(vals), c.want, c.n)
			}
		})
	}
}

func TestFormatOSBuild(t *testing.T) {
	got, err := FormatOSBuild(10, 0, "26100", 2033)
	if err != nil || got != "10.0.26100.2033" {
		t.Fatalf("FormatOSBuild = %q, %v", got, err)
	}
	if _, err := FormatOSBuild(10, 0, "x", 1); err == nil || !strings.Contains(err.Error(), "CurrentBuildNumber") {
		t.Fatalf("bad build number: %v", err)
	}
}

func TestParseBootMode(t *testing.T) {
	for opts, want := range map[string]string{
		" NOEXECUTE=OPTIN  FVEBOOT=2621440":   "Normal",
		"":                                    "Normal",
		" NOEXECUTE=OPTIN  SAFEBOOT:MINIMAL":  "SafeMode",
		" NOEXECUTE=OPTIN  SAFEBOOT:NETWORK":  "SafeMode",
		" noexecute=optin  safeboot:dsrepair": "DSRM",
	} {
		if got := ParseBootMode(opts); got != want {
			t.Errorf("ParseBootMode(%q) = %s, want %s", opts, got, want)
		}
	}
}

// A Microsoft-Windows-LAPS/Operational event as EvtFormatMessage(EvtFormatMessageXml) renders
// it (shape of the Windows event schema; values made up).
const event10027 = `<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><Provider Name='Microsoft-Windows-LAPS' Guid='{177720b0-e8fe-47ed-bf71-d6dbc8bd2ee7}'/><EventID>10027</EventID><Version>0</Version><Level>2</Level><Task>0</Task><Opcode>0</Opcode><Keywords>0x8000000000000000</Keywords><TimeCreated SystemTime='2026-12-07T02:59:58.1234567Z'/><EventRecordID>812</EventRecordID><Channel>Microsoft-Windows-LAPS/Operational</Channel><Computer>WS-0001.corp.example</Computer></System><EventData><Data Name='ErrorCode'>0x80070005</Data><Data Name='ErrorMessage'>Access is denied.</Data></EventData><RenderingInfo Culture='en-US'><Message>LAPS was unable to create an acceptable new password.
 Please verify that the LAPS password length and complexity policy is compatible with the domain and local password policy settings.</Message><Level>Error</Level></RenderingInfo></Event>`

func TestParseEventXML(t *testing.T) {
	e, err := ParseEventXML([]byte(event10027))
	if err != nil {
		t.Fatal(err)
	}
	if e.ID != 10027 || e.ResultCode != 0x80070005 || !e.Time.Equal(time.Date(2026, 12, 7, 2, 59, 58, 123456700, time.UTC)) ||
		!strings.HasPrefix(e.Message, "LAPS was unable to create an acceptable new password. Please verify") {
		t.Fatalf("event %+v", e)
	}
	for _, bad := range []string{"", "<Event>", "<Event><System><EventID>x</EventID></System></Event>",
		"<Event><System><EventID>10004</EventID><TimeCreated SystemTime='yesterday'/></System></Event>"} {
		if _, err := ParseEventXML([]byte(bad)); err == nil {
			t.Errorf("ParseEventXML(%q) accepted", bad)
		}
	}
}

func TestParseLocalState(t *testing.T) {
	exp := time.Date(2026, 12, 30, 10, 0, 0, 0, time.UTC)
	guid := []byte{0xe0, 0x04, 0x25, 0x3f, 0x89, 0x4f, 0xd3, 0x11, 0x9a, 0x0c, 0x03, 0x05, 0xe8, 0x2c, 0x33, 0x01}
	ver, got := ParseLocalState([]RawValue{
		{Name: "LastPasswordVersion", Type: RegBinary, Binary: guid},
		{Name: "PasswordExpirationTime", Type: RegQWORD, QWord: uint64(adsyntax.TimeToFiletime(exp))},
	})
	if ver != "3f2504e0-4f89-11d3-9a0c-0305e82c3301" || !got.Equal(exp) {
		t.Fatalf("ParseLocalState = %s %s", ver, got)
	}
	ver, got = ParseLocalState([]RawValue{{Name: "lastpasswordversion", Type: render.RegSZ, SZ: "{3F2504E0-4F89-11D3-9A0C-0305E82C3301}"}})
	if ver != "3f2504e0-4f89-11d3-9a0c-0305e82c3301" || !got.IsZero() {
		t.Fatalf("ParseLocalState(string GUID) = %s %s", ver, got)
	}
	if ver, got := ParseLocalState([]RawValue{{Name: "LastPasswordVersion", Type: render.RegSZ, SZ: "junk"}, {Name: "PasswordExpirationTime", Type: render.RegDWORD, DWord: 5}}); ver != "" || !got.IsZero() {
		t.Fatalf("malformed values gave %s %s", ver, got)
	}
}

func TestPlanLocalConfiguration(t *testing.T) {
	doc := []byte(`{"apiVersion":"laps.fleetlaps.io/v1","kind":"AgentLocalConfiguration","hive":"HKLM","key":"` +
		strings.ReplaceAll(render.LocalConfigurationKey, `\`, `\\`) + `","policyHash":"x","values":[
		{"name":"BackupDirectory","type":"REG_DWORD","data":2},
		{"name":"PasswordAgeDays","type":"REG_DWORD","data":30},
		{"name":"AdministratorAccountName","type":"REG_SZ","data":"WLapsAdmin7"}]}`)
	existing := []RawValue{
		{Name: "backupdirectory", Type: render.RegDWORD, DWord: 2},
		{Name: "PasswordAgeDays", Type: render.RegDWORD, DWord: 14},
		{Name: "PasswordLength", Type: render.RegDWORD, DWord: 20},
	}
	key, set, remove, err := PlanLocalConfiguration(doc, existing)
	if err != nil {
		t.Fatal(err)
	}
	if key != render.LocalConfigurationKey || len(set) != 2 || set[0].Name != "PasswordAgeDays" || set[0].DWord != 30 ||
		set[1].SZ != "WLapsAdmin7" || len(remove) != 1 || remove[0] != "PasswordLength" {
		t.Fatalf("plan: key %s set %+v remove %v", key, set, remove)
	}
	for _, bad := range []string{`{}`, `not json`, strings.Replace(string(doc), `"data":30`, `"data":-1`, 1),
		strings.Replace(string(doc), `"data":30`, `"data":"30"`, 1), strings.Replace(string(doc), `"hive":"HKLM"`, `"hive":"HKCU"`, 1)} {
		if _, _, _, err := PlanLocalConfiguration([]byte(bad), nil); err == nil {
			t.Errorf("accepted %.60s", bad)
		}
	}
}
