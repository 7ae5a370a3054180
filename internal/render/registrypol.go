package render

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"unicode/utf16"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
	"github.com/fleetlaps/fleetlaps/internal/policy"
)

// Registry keys of the policy roots (seed 002 "Supported policy roots", without the HKLM hive:
// Registry.pol under Machine\ is applied to HKLM).
const (
	GroupPolicyKey        = `Software\Microsoft\Windows\CurrentVersion\Policies\LAPS`
	LocalConfigurationKey = `Software\Microsoft\Windows\CurrentVersion\LAPS\Config`
	LegacyLAPSKey         = `Software\Policies\Microsoft Services\AdmPwd`
)

// Registry value types [MS-RRP].
const (
	RegSZ    uint32 = 1
	RegDWORD uint32 = 4
)

// RegistryValue is one value under a policy key.
type RegistryValue struct {
	Key   string
	Name  string
	Type  uint32 // RegSZ or RegDWORD
	DWord uint32
	SZ    string
}

// registryValues maps s to the values of its root: Windows LAPS roots use seed 002's setting
// names as value names (LAPS-REFERENCE.md §2: the LAPS ADMX writes them, including
// PasswordExpirationProtectionEnabled); numbers and booleans are REG_DWORD, strings REG_SZ.
// LegacyLAPS writes legacy Microsoft LAPS's AdmPwd values.
func registryValues(s policy.Settings) []RegistryValue {
	if s.PolicyRoot == lapsv1.PolicyRootLegacyLAPS {
		return legacyValues(s)
	}
	key := GroupPolicyKey
	if s.PolicyRoot == lapsv1.PolicyRootLocalConfiguration {
		key = LocalConfigurationKey
	}
	var out []RegistryValue
	for _, st := range settings(s) {
		v := RegistryValue{Key: key, Name: st.Name, Type: RegDWORD}
		switch st.Kind {
		case kindInt:
			v.DWord = uint32(st.Int)
		case kindBool:
			v.DWord = uint32(b2i(st.Bool))
		case kindString:
			v.Type, v.SZ = RegSZ, st.Str
		}
		out = append(out, v)
	}
	return out
}

// legacyValues is legacy Microsoft LAPS's AdmPwd.admx under
// Software\Policies\Microsoft Services\AdmPwd (LAPS-REFERENCE.md §2): AdmPwdEnabled,
// AdminAccountName, PasswordComplexity (1..4), PasswordLength, PasswordAgeDays,
// PwdExpirationProtectionEnabled. The value names come from LAPS-REFERENCE.md, not from a seed;
// the value ranges accepted by the legacy client for PasswordLength (8..64) and PasswordAgeDays
// (1..365) are assumed equal to Windows LAPS's: UNVERIFIED against AdmPwd.admx. Seed 002: legacy
// mode's PasswordExpirationProtectionEnabled defaults to False, which policy.Effective applies.
func legacyValues(s policy.Settings) []RegistryValue {
	dw := func(name string, v uint32) RegistryValue {
		return RegistryValue{Key: LegacyLAPSKey, Name: name, Type: RegDWORD, DWord: v}
	}
	if s.BackupDirectory != lapsv1.BackupDirectoryActiveDirectory {
		return []RegistryValue{dw("AdmPwdEnabled", 0)}
	}
	out := []RegistryValue{dw("AdmPwdEnabled", 1)}
	if s.AdministratorAccountName != "" {
		out = append(out, RegistryValue{Key: LegacyLAPSKey, Name: "AdminAccountName", Type: RegSZ, SZ: s.AdministratorAccountName})
	}
	cx, _ := s.PasswordComplexity.WindowsValue()
	return append(out,
		dw("PasswordComplexity", uint32(cx)),
		dw("PasswordLength", uint32(s.PasswordLength)),
		dw("PasswordAgeDays", uint32(s.PasswordAgeDays)),
		dw("PwdExpirationProtectionEnabled", uint32(b2i(s.PasswordExpirationProtectionEnabled))))
}

// PReg header [MS-GPREG 2.2.1]: signature "PReg", version 1 (little-endian uint32).
var pregHeader = []byte{'P', 'R', 'e', 'g', 1, 0, 0, 0}

// renderRegistryPol writes a Registry.pol: the PReg header, then one
// [key;value;type;size;data] entry per value. Brackets and semicolons are UTF-16LE characters,
// key and value names NUL-terminated UTF-16LE, type and size little-endian uint32, REG_SZ data
// UTF-16LE including its terminating NUL, REG_DWORD data 4 bytes little-endian; no entry count.
func renderRegistryPol(s policy.Settings) ([]byte, error) {
	return EncodeRegistryPol(registryValues(s)), nil
}

// EncodeRegistryPol encodes values as a Registry.pol file.
func EncodeRegistryPol(values []RegistryValue) []byte {
	var b bytes.Buffer
	b.Write(pregHeader)
	u32 := func(v uint32) { _ = binary.Write(&b, binary.LittleEndian, v) }
	ch := func(r rune) { _ = binary.Write(&b, binary.LittleEndian, uint16(r)) }
	for _, v := range values {
		ch('[')
		b.Write(utf16z(v.Key))
		ch(';')
		b.Write(utf16z(v.Name))
		ch(';')
		u32(v.Type)
		ch(';')
		var data []byte
		if v.Type == RegSZ {
			data = utf16z(v.SZ)
		} else {
			data = binary.LittleEndian.AppendUint32(nil, v.DWord)
		}
		u32(uint32(len(data)))
		ch(';')
		b.Write(data)
		ch(']')
	}
	return b.Bytes()
}

// utf16z is s in UTF-16LE with a terminating NUL.
func utf16z(s string) []byte {
	u := utf16.Encode([]rune(s))
	out := make([]byte, 0, 2*len(u)+2)
	for _, c := range u {
		out = binary.LittleEndian.AppendUint16(out, c)
	}
	return append(out, 0, 0)
}

// ParseRegistryPol decodes a Registry.pol holding REG_SZ and REG_DWORD values (what this package
// writes). It is strict: any deviation from [MS-GPREG 2.2.1] is an error with its byte offset.
func ParseRegistryPol(data []byte) ([]RegistryValue, error) {
	if len(data) < 8 || !bytes.Equal(data[:8], pregHeader) {
		return nil, errors.New("registry.pol: missing PReg version 1 header")
	}
	p := &polReader{data: data, off: 8}
	var out []RegistryValue
	for p.off < len(data) {
		start := p.off
		var v RegistryValue
		var size uint32
		var err error
		if err = p.expect('['); err == nil {
			v.Key, err = p.stringz()
		}
		if err == nil {
			err = p.expect(';')
		}
		if err == nil {
			v.Name, err = p.stringz()
		}
		if err == nil {
			err = p.expect(';')
		}
		if err == nil {
			v.Type, err = p.u32()
		}
		if err == nil {
			err = p.expect(';')
		}
		if err == nil {
			size, err = p.u32()
		}
		if err == nil {
			err = p.expect(';')
		}
		if err == nil {
			if int(size) > len(data)-p.off {
				err = fmt.Errorf("data size %d beyond the end", size)
			}
		}
		if err == nil {
			raw := data[p.off : p.off+int(size)]
			p.off += int(size)
			switch v.Type {
			case RegDWORD:
				if size != 4 {
					err = fmt.Errorf("REG_DWORD of %d bytes", size)
				} else {
					v.DWord = binary.LittleEndian.Uint32(raw)
				}
			case RegSZ:
				v.SZ, err = decodeUTF16z(raw)
			default:
				err = fmt.Errorf("unsupported value type %d", v.Type)
			}
		}
		if err == nil {
			err = p.expect(']')
		}
		if err != nil {
			return nil, fmt.Errorf("registry.pol: entry at offset %d: %w", start, err)
		}
		out = append(out, v)
	}
	return out, nil
}

type polReader struct {
	data []byte
	off  int
}

func (p *polReader) expect(r rune) error {
	if p.off+2 > len(p.data) || binary.LittleEndian.Uint16(p.data[p.off:]) != uint16(r) {
		return fmt.Errorf("expected %q at offset %d", r, p.off)
	}
	p.off += 2
	return nil
}

func (p *polReader) u32() (uint32, error) {
	if p.off+4 > len(p.data) {
		return 0, fmt.Errorf("truncated at offset %d", p.off)
	}
	v := binary.LittleEndian.Uint32(p.data[p.off:])
	p.off += 4
	return v, nil
}

func (p *polReader) stringz() (string, error) {
	for i := p.off; i+1 < len(p.data); i += 2 {
		if p.data[i] == 0 && p.data[i+1] == 0 {
			s, err := decodeUTF16z(p.data[p.off : i+2])
			p.off = i + 2
			return s, err
		}
	}
	return "", fmt.Errorf("unterminated string at offset %d", p.off)
}

func decodeUTF16z(b []byte) (string, error) {
	if len(b) < 2 || len(b)%2 != 0 || b[len(b)-1] != 0 || b[len(b)-2] != 0 {
		return "", errors.New("string is not NUL-terminated UTF-16LE")
	}
	u := make([]uint16, 0, len(b)/2-1)
	for i := 0; i+2 < len(b); i += 2 {
		u = append(u, binary.LittleEndian.Uint16(b[i:]))
	}
	return string(utf16.Decode(u)), nil
}

// renderRegistryText writes the values in LGPO.exe's text format (Computer, key, value name,
// DWORD:n or SZ:text, blank line), readable by admins and importable with LGPO /t.
func renderRegistryText(s policy.Settings) ([]byte, error) {
	var b strings.Builder
	b.WriteString("; fleetlaps: Windows LAPS policy, LGPO text format (Computer configuration)\n\n")
	for _, v := range registryValues(s) {
		b.WriteString("Computer\n")
		b.WriteString(v.Key + "\n")
		b.WriteString(v.Name + "\n")
		if v.Type == RegSZ {
			b.WriteString("SZ:" + v.SZ + "\n\n")
		} else {
			fmt.Fprintf(&b, "DWORD:%d\n\n", v.DWord)
		}
	}
	return []byte(b.String()), nil
}
