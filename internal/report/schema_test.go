package report

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

var testTime = time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC)

func validReport() Report {
	return Report{
		Schema: SchemaV1, Device: DeviceRef{Namespace: "fleet", Name: "ws-0001"}, Sequence: 7, AgentTime: testTime,
		OSBuild: "10.0.26100.2033", BootMode: "Normal", ActivePolicyRoot: "GroupPolicy", AppliedPolicyHash: "0123456789abcdef",
		LocalPasswordVersion: "3f2504e0-4f89-11d3-9a0c-0305e82c3301", LocalExpirationTime: testTime.Add(72 * time.Hour),
		Events: []Event{{ID: 10004, Time: testTime, Message: "LAPS policy processing succeeded."}},
	}
}

// mutate returns the valid report's JSON with a change made on its generic form.
func mutate(t testing.TB, change func(m map[string]any)) string {
	b, err := json.Marshal(validReport())
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	change(m)
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// badBodies are refused by the decoder; want is a part of the error that names what is wrong.
func badBodies(t testing.TB) []struct{ name, body, want string } {
	return []struct{ name, body, want string }{
		{"empty body", "", "malformed JSON"},
		{"not JSON", "hello", "malformed JSON"},
		{"a JSON array", "[]", "malformed JSON"},
		{"truncated", mutate(t, func(map[string]any) {})[:40], "malformed JSON"},
		{"two objects", mutate(t, func(map[string]any) {}) + "{}", "after top-level value"},
		{"unknown field", mutate(t, func(m map[string]any) { m["password"] = "x" }), `unknown field "password"`},
		{"unknown nested field", mutate(t, func(m map[string]any) { m["device"].(map[string]any)["uid"] = "x" }), `unknown field "uid"`},
		{"missing schema", mutate(t, func(m map[string]any) { delete(m, "schema") }), "schema: missing"},
		{"other schema", mutate(t, func(m map[string]any) { m["schema"] = "laps.fleetlaps.io/report/v2" }), `schema: "laps.fleetlaps.io/report/v2" is not supported`},
		{"wrong type", mutate(t, func(m map[string]any) { m["sequence"] = "7" }), "field sequence: wrong JSON type string"},
		{"zero sequence", mutate(t, func(m map[string]any) { m["sequence"] = 0 }), "sequence: 0"},
		{"bad namespace", mutate(t, func(m map[string]any) { m["device"].(map[string]any)["namespace"] = "Fleet_1" }), "device.namespace"},
		{"missing device name", mutate(t, func(m map[string]any) { delete(m["device"].(map[string]any), "name") }), "device.name"},
		{"missing agentTime", mutate(t, func(m map[string]any) { delete(m, "agentTime") }), "agentTime: missing"},
		{"bad osBuild", mutate(t, func(m map[string]any) { m["osBuild"] = "Windows 11" }), "osBuild"},
		{"bad bootMode", mutate(t, func(m map[string]any) { m["bootMode"] = "Recovery" }), "bootMode: \"Recovery\"; allowed: Normal, SafeMode, DSRM"},
		{"bad root", mutate(t, func(m map[string]any) { m["activePolicyRoot"] = "Registry" }), "activePolicyRoot"},
		{"bad hash", mutate(t, func(m map[string]any) { m["appliedPolicyHash"] = "XYZ" }), "appliedPolicyHash"},
		{"bad GUID", mutate(t, func(m map[string]any) { m["localPasswordVersion"] = "not-a-guid" }), "localPasswordVersion"},
		{"too many events", mutate(t, func(m map[string]any) {
			ev := m["events"].([]any)
			for len(ev) <= MaxEvents {
				ev = append(ev, ev[0])
			}
			m["events"] = ev
		}), "events: 21 events; at most 20"},
		{"event id 0", mutate(t, func(m map[string]any) { m["events"].([]any)[0].(map[string]any)["id"] = 0 }), "events[0].id"},
		{"event without time", mutate(t, func(m map[string]any) { delete(m["events"].([]any)[0].(map[string]any), "time") }), "events[0].time"},
		{"long message", mutate(t, func(m map[string]any) { m["events"].([]any)[0].(map[string]any)["message"] = strings.Repeat("a", 513) }), "events[0].message: 513 bytes"},
		{"control character", mutate(t, func(m map[string]any) { m["events"].([]any)[0].(map[string]any)["message"] = "a\x1bb" }), "control character"},
		{"invalid UTF-8", "{\"schema\":\"" + SchemaV1 + "\",\"osBuild\":\"\xff\"}", "not valid UTF-8"},
		{"oversized", mutate(t, func(m map[string]any) { m["pad"] = strings.Repeat("x", MaxBodyBytes) }), "exceeds 65536 bytes"},
	}
}

func TestDecode_refusesBadBodies(t *testing.T) {
	for _, c := range badBodies(t) {
		t.Run(c.name, func(t *testing.T) {
			_, err := Decode(strings.NewReader(c.body))
			if err == nil {
				t.Fatalf("accepted %q", truncateRunes(c.body, 80))
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not say %q", err, c.want)
			}
		})
	}
}

func TestDecode_acceptsValidReport(t *testing.T) {
	body := mutate(t, func(map[string]any) {})
	got, err := Decode(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	want := validReport()
	if got.Device != want.Device || got.Sequence != want.Sequence || !got.AgentTime.Equal(want.AgentTime) || len(got.Events) != 1 {
		t.Errorf("decoded %+v, want %+v", got, want)
	}
	if len(body) > MaxBodyBytes {
		t.Fatal("the test report is too big")
	}
}

func TestDecode_oversizedIsErrTooLarge(t *testing.T) {
	_, err := Decode(strings.NewReader(strings.Repeat(" ", MaxBodyBytes+1)))
	if !errors.Is(err, ErrTooLarge) {
		t.Errorf("err = %v, want ErrTooLarge", err)
	}
}

// FuzzDecode: any input is either refused with a *BadReport or ErrTooLarge, or decodes to a
// report that validates and survives a round trip; it never panics.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(mutate(f, func(map[string]any) {})))
	for _, c := range badBodies(f) {
		if len(c.body) < 4096 {
			f.Add([]byte(c.body))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		rep, err := DecodeBytes(data)
		if err != nil {
			var br *BadReport
			if !errors.As(err, &br) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("unexpected error type %T: %v", err, err)
			}
			return
		}
		if err := rep.Validate(); err != nil {
			t.Fatalf("decoded report does not validate: %v", err)
		}
		again, err := json.Marshal(rep)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := DecodeBytes(again); err != nil && !errors.Is(err, ErrTooLarge) {
			t.Fatalf("re-encoded report refused: %v", err)
		}
	})
}
