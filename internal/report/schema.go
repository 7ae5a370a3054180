package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"
)

// SchemaV1 names the one report schema this server accepts. A new schema gets a new name; the
// server refuses names it does not know rather than guessing.
const SchemaV1 = "laps.fleetlaps.io/report/v1"

// Limits of a report body.
const (
	// MaxBodyBytes bounds a request body (64 KiB).
	MaxBodyBytes = 64 << 10
	// MaxEvents bounds recentEvents (status.agent.recentEvents holds as many).
	MaxEvents = 20
	// MaxMessageBytes bounds one event message (status.agent.recentEvents[].message).
	MaxMessageBytes = 512
)

// Report is schema laps.fleetlaps.io/report/v1: what the agent saw on its device.
type Report struct {
	Schema string    `json:"schema"`
	Device DeviceRef `json:"device"`
	// Sequence increases with every report the agent sends; the server refuses a sequence not
	// newer than the last it accepted (replay).
	Sequence int64 `json:"sequence"`
	// AgentTime is the device's clock when it built the report; it must lie within the
	// server's clock-skew bound.
	AgentTime time.Time `json:"agentTime"`
	// OSBuild is major.minor.build[.revision], e.g. 10.0.26100.2033.
	OSBuild string `json:"osBuild"`
	// BootMode: Normal, SafeMode or DSRM.
	BootMode string `json:"bootMode"`
	// ActivePolicyRoot is the Windows LAPS policy root in effect ("" when none has settings).
	ActivePolicyRoot string `json:"activePolicyRoot,omitempty"`
	// AppliedPolicyHash is render.AppliedHash over the active root's registry values.
	AppliedPolicyHash string `json:"appliedPolicyHash,omitempty"`
	// LocalPasswordVersion is the device's last password version GUID ("" before the first
	// rotation).
	LocalPasswordVersion string `json:"localPasswordVersion,omitempty"`
	// LocalExpirationTime is the expiry the device keeps locally (zero: unknown).
	LocalExpirationTime time.Time `json:"localExpirationTime,omitzero"`
	// Events are recent Microsoft-Windows-LAPS/Operational events, newest first.
	Events []Event `json:"events,omitempty"`
}

// DeviceRef names the ManagedDevice the report speaks for.
type DeviceRef struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
}

func (d DeviceRef) String() string { return d.Namespace + "/" + d.Name }

// Event is one LAPS event.
type Event struct {
	ID         int32     `json:"id"`
	Time       time.Time `json:"time"`
	ResultCode uint32    `json:"resultCode,omitempty"`
	Message    string    `json:"message,omitempty"`
}

// BadReport is a body the server refuses; Field names the offending field ("" for the body).
type BadReport struct {
	Field  string
	Reason string
}

func (e *BadReport) Error() string {
	if e.Field == "" {
		return e.Reason
	}
	return e.Field + ": " + e.Reason
}

func bad(field, format string, args ...any) error {
	return &BadReport{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// ErrTooLarge is returned for a body over MaxBodyBytes.
var ErrTooLarge = fmt.Errorf("report body exceeds %d bytes", MaxBodyBytes)

// Decode reads one report strictly: at most MaxBodyBytes, JSON with no unknown fields and
// nothing after the object, then Validate. It never panics on any input.
func Decode(r io.Reader) (Report, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxBodyBytes+1))
	if err != nil {
		return Report{}, fmt.Errorf("reading the body: %w", err)
	}
	if len(data) > MaxBodyBytes {
		return Report{}, ErrTooLarge
	}
	return DecodeBytes(data)
}

// DecodeBytes is Decode of a body already read.
func DecodeBytes(data []byte) (Report, error) {
	if len(data) > MaxBodyBytes {
		return Report{}, ErrTooLarge
	}
	if !utf8.Valid(data) {
		return Report{}, bad("", "body is not valid UTF-8")
	}
	// The schema name decides how to read the rest: look at it alone first, so a body of
	// another schema is refused by name, not by its first unknown field.
	var head struct {
		Schema *string `json:"schema"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return Report{}, bad("", "malformed JSON: %s", jsonReason(err))
	}
	switch {
	case head.Schema == nil:
		return Report{}, bad("schema", "missing; allowed: %s", SchemaV1)
	case *head.Schema != SchemaV1:
		return Report{}, bad("schema", "%q is not supported; allowed: %s", truncateRunes(*head.Schema, 64), SchemaV1)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var rep Report
	if err := dec.Decode(&rep); err != nil {
		return Report{}, bad("", "malformed report: %s", jsonReason(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Report{}, bad("", "data after the report object")
	}
	if err := rep.Validate(); err != nil {
		return Report{}, err
	}
	return rep, nil
}

// jsonReason is the decoder's message without Go type names.
func jsonReason(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("field %s: wrong JSON type %s", te.Field, te.Value)
	}
	return truncateRunes(strings.TrimPrefix(err.Error(), "json: "), 200)
}

var (
	dnsLabel    = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	dnsSubdom   = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
	osBuildRe   = regexp.MustCompile(`^[0-9]{1,5}\.[0-9]{1,5}\.[0-9]{1,6}(\.[0-9]{1,6})?$`)
	guidRe      = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	hashRe      = regexp.MustCompile(`^[0-9a-f]{16}$`)
	bootModes   = []string{"Normal", "SafeMode", "DSRM"}
	policyRoots = []string{"CSP", "GroupPolicy", "LocalConfiguration", "LegacyLAPS"}
)

// Validate checks every field against what status.agent may hold; the first problem is
// returned, naming the field and what is allowed.
func (r *Report) Validate() error {
	if r.Schema != SchemaV1 {
		return bad("schema", "%q is not supported; allowed: %s", truncateRunes(r.Schema, 64), SchemaV1)
	}
	if len(r.Device.Namespace) > 63 || !dnsLabel.MatchString(r.Device.Namespace) {
		return bad("device.namespace", "%q is not a namespace name", truncateRunes(r.Device.Namespace, 64))
	}
	if len(r.Device.Name) > 253 || !dnsSubdom.MatchString(r.Device.Name) {
		return bad("device.name", "%q is not a ManagedDevice name", truncateRunes(r.Device.Name, 64))
	}
	if r.Sequence < 1 {
		return bad("sequence", "%d; must be 1 or more and grow with every report", r.Sequence)
	}
	if r.AgentTime.IsZero() {
		return bad("agentTime", "missing; an RFC 3339 time is required")
	}
	if !osBuildRe.MatchString(r.OSBuild) {
		return bad("osBuild", "%q; expected major.minor.build[.revision], e.g. 10.0.26100.2033", truncateRunes(r.OSBuild, 64))
	}
	if !oneOf(r.BootMode, bootModes) {
		return bad("bootMode", "%q; allowed: %s", truncateRunes(r.BootMode, 64), strings.Join(bootModes, ", "))
	}
	if r.ActivePolicyRoot != "" && !oneOf(r.ActivePolicyRoot, policyRoots) {
		return bad("activePolicyRoot", "%q; allowed: %s, or empty", truncateRunes(r.ActivePolicyRoot, 64), strings.Join(policyRoots, ", "))
	}
	if r.AppliedPolicyHash != "" && !hashRe.MatchString(r.AppliedPolicyHash) {
		return bad("appliedPolicyHash", "%q; expected 16 lowercase hex digits", truncateRunes(r.AppliedPolicyHash, 64))
	}
	if r.LocalPasswordVersion != "" && !guidRe.MatchString(r.LocalPasswordVersion) {
		return bad("localPasswordVersion", "%q; expected a GUID", truncateRunes(r.LocalPasswordVersion, 64))
	}
	if len(r.Events) > MaxEvents {
		return bad("events", "%d events; at most %d", len(r.Events), MaxEvents)
	}
	for i, e := range r.Events {
		f := fmt.Sprintf("events[%d]", i)
		if e.ID < 1 || e.ID > 65535 {
			return bad(f+".id", "%d; an event id is 1..65535", e.ID)
		}
		if e.Time.IsZero() {
			return bad(f+".time", "missing; an RFC 3339 time is required")
		}
		if len(e.Message) > MaxMessageBytes {
			return bad(f+".message", "%d bytes; at most %d", len(e.Message), MaxMessageBytes)
		}
		for _, c := range e.Message {
			if c < 0x20 && c != '\t' || c == 0x7f {
				return bad(f+".message", "contains control character %U", c)
			}
		}
	}
	return nil
}

func oneOf(s string, allowed []string) bool {
	for _, a := range allowed {
		if s == a {
			return true
		}
	}
	return false
}

// truncateRunes shortens s for an error message without splitting a character.
func truncateRunes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}
