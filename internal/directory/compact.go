package directory

import (
	"encoding/hex"
	"math"
	"strings"
	"time"
)

// CompactRecord is a DeviceRecord packed for holding a whole fleet in memory (the sync snapshot
// of 100,000 devices): GUIDs as 16 bytes, times as Unix nanoseconds, the enumerations as small
// numbers, the DN's parent (the OU path every computer of an OU repeats) as an index into a
// Parents table, and the remaining text in one string. Compact refuses (ok=false) a record it
// cannot give back exactly; the caller keeps that one as it is.
type CompactRecord struct {
	text    string            // the textFields, back to back
	times   [timeFields]int64 // Unix nanoseconds (flagTimeSet, flagTimeUTC say whether and where)
	usn     int64
	key     [16]byte           // Key as a GUID (flagKeyGUID)
	version [16]byte           // CurrentPasswordVersion as a GUID (flagVersionGUID)
	ends    [textFields]uint16 // end offset in text of each textField
	parent  uint32             // Parents index of the DN's parent; noParent: the DN is whole in text
	// flags holds the flag bits, then the index of Source in sources (3 bits) and of
	// UpdateTimeSource in updateSources (2 bits).
	flags uint32
}

// The text fields, in their order in CompactRecord.text.
const (
	textKey = iota // only when Key is not a canonical GUID
	textName
	textDN // the first RDN only when parent is set
	textObjectGUID
	textSAM
	textDNS
	textSID
	textDeviceID
	textManagedDeviceID
	textVersion // only when CurrentPasswordVersion is not a canonical GUID
	textBadData // the values joined by badDataSep
	textFields
)

// The time fields.
const (
	timeExpiration = iota
	timeUpdate
	timeLegacyExpiration
	timeFields
)

const (
	flagKeyGUID = 1 << iota
	flagVersionGUID
	flagObjectGUIDIsKey
	flagDomainController
	flagNeverExpires
	flagLegacyNeverExpires
	flagStorageUnknown
	flagBadDataEmpty // BadData is an empty, non-nil slice
	flagTimeSet      // << time field: the time is set
	flagTimeUTC      = flagTimeSet << timeFields
	sourceShift      = 16
	updatedShift     = 19
)

const (
	noParent   = math.MaxUint32
	badDataSep = "\x00"
)

var (
	sources       = [...]PasswordSource{SourceNone, SourceCleartext, SourceEncrypted, SourceLegacy, SourceEntraID}
	updateSources = [...]UpdateTimeSource{UpdateTimeUnknown, UpdateTimeReplicationMetadata, UpdateTimeDirectory}
)

// The indexes fit their bits in flags (a constant overflow fails the build otherwise).
const (
	_ = uint8(8 - len(sources))
	_ = uint8(4 - len(updateSources))
)

// Parents interns the parents of distinguished names ("OU=Berlin,DC=corp,DC=example"): a fleet
// has few OUs and many computers. Not safe for concurrent writes; reads after the last Compact
// are.
type Parents struct {
	index map[string]uint32
	list  []string
}

// NewParents returns an empty table.
func NewParents() *Parents { return &Parents{index: map[string]uint32{}} }

func (p *Parents) id(s string) (uint32, bool) {
	if i, ok := p.index[s]; ok {
		return i, true
	}
	if len(p.list) >= noParent-1 {
		return 0, false
	}
	i := uint32(len(p.list))
	p.index[s] = i
	p.list = append(p.list, s)
	return i, true
}

// Compact packs r, interning its DN's parent in parents. ok is false when r holds something the
// packed form cannot give back exactly (text over 64 KiB, a time outside 1678-2262 or in a
// location other than UTC and Local, an unknown source).
func Compact(r DeviceRecord, parents *Parents) (c CompactRecord, ok bool) {
	var text [textFields]string
	c.parent = noParent
	if g, ok := ParseGUID(r.Key); ok {
		c.key, c.flags = g, c.flags|flagKeyGUID
	} else {
		text[textKey] = r.Key
	}
	text[textName] = r.Name
	text[textDN] = r.DistinguishedName
	if rdn, parent, split := splitDN(r.DistinguishedName); split {
		if id, ok := parents.id(parent); ok {
			text[textDN], c.parent = rdn, id
		}
	}
	if r.ObjectGUID != "" && r.ObjectGUID == r.Key {
		c.flags |= flagObjectGUIDIsKey
	} else {
		text[textObjectGUID] = r.ObjectGUID
	}
	text[textSAM], text[textDNS], text[textSID] = r.SAMAccountName, r.DNSHostName, r.ObjectSID
	text[textDeviceID], text[textManagedDeviceID] = r.DeviceID, r.ManagedDeviceID
	if g, ok := ParseGUID(r.CurrentPasswordVersion); ok {
		c.version, c.flags = g, c.flags|flagVersionGUID
	} else {
		text[textVersion] = r.CurrentPasswordVersion
	}
	switch {
	case r.BadData == nil:
	case len(r.BadData) == 0:
		c.flags |= flagBadDataEmpty
	default:
		for _, v := range r.BadData {
			if v == "" || strings.Contains(v, badDataSep) {
				return CompactRecord{}, false
			}
		}
		text[textBadData] = strings.Join(r.BadData, badDataSep)
	}
	var b strings.Builder
	n := 0
	for _, s := range text {
		n += len(s)
	}
	b.Grow(n)
	for i, s := range text {
		b.WriteString(s)
		if b.Len() > math.MaxUint16 {
			return CompactRecord{}, false
		}
		c.ends[i] = uint16(b.Len())
	}
	c.text = b.String()

	for i, t := range [timeFields]time.Time{r.PasswordExpirationTime, r.PasswordUpdateTime, r.LegacyExpirationTime} {
		if t.IsZero() {
			continue
		}
		ns := t.UnixNano()
		if !time.Unix(0, ns).Equal(t) {
			return CompactRecord{}, false
		}
		switch t.Location() {
		case time.UTC:
			c.flags |= flagTimeUTC << i
		case time.Local:
		default:
			return CompactRecord{}, false
		}
		c.times[i], c.flags = ns, c.flags|flagTimeSet<<i
	}
	c.usn = r.USNChanged
	c.flags |= flagIf(r.DomainController, flagDomainController) | flagIf(r.PasswordNeverExpires, flagNeverExpires) |
		flagIf(r.LegacyNeverExpires, flagLegacyNeverExpires) | flagIf(r.StorageUnknown, flagStorageUnknown)
	si, sok := indexOf(sources[:], r.Source)
	ui, uok := indexOf(updateSources[:], r.UpdateTimeSource)
	if !sok || !uok {
		return CompactRecord{}, false
	}
	c.flags |= uint32(si)<<sourceShift | uint32(ui)<<updatedShift
	return c, true
}

// Expand gives the record back (parents: the table Compact used).
func (c *CompactRecord) Expand(parents *Parents) DeviceRecord {
	r := DeviceRecord{
		Name: c.field(textName), DistinguishedName: c.field(textDN), ObjectGUID: c.field(textObjectGUID),
		SAMAccountName: c.field(textSAM), DNSHostName: c.field(textDNS), ObjectSID: c.field(textSID),
		DeviceID: c.field(textDeviceID), ManagedDeviceID: c.field(textManagedDeviceID),
		CurrentPasswordVersion: c.field(textVersion),
		DomainController:       c.flags&flagDomainController != 0,
		PasswordNeverExpires:   c.flags&flagNeverExpires != 0,
		LegacyNeverExpires:     c.flags&flagLegacyNeverExpires != 0,
		StorageUnknown:         c.flags&flagStorageUnknown != 0,
		USNChanged:             c.usn,
		Source:                 sources[c.flags>>sourceShift&7],
		UpdateTimeSource:       updateSources[c.flags>>updatedShift&3],
	}
	r.Key = c.Key()
	if c.parent != noParent {
		r.DistinguishedName += "," + parents.list[c.parent]
	}
	if c.flags&flagObjectGUIDIsKey != 0 {
		r.ObjectGUID = r.Key
	}
	if c.flags&flagVersionGUID != 0 {
		r.CurrentPasswordVersion = formatGUID(c.version)
	}
	if bad := c.field(textBadData); bad != "" {
		r.BadData = strings.Split(bad, badDataSep)
	} else if c.flags&flagBadDataEmpty != 0 {
		r.BadData = []string{}
	}
	for i, t := range []*time.Time{&r.PasswordExpirationTime, &r.PasswordUpdateTime, &r.LegacyExpirationTime} {
		if c.flags&(flagTimeSet<<i) == 0 {
			continue
		}
		*t = time.Unix(0, c.times[i])
		if c.flags&(flagTimeUTC<<i) != 0 {
			*t = t.UTC()
		}
	}
	return r
}

// Key is the record's Key.
func (c *CompactRecord) Key() string {
	if c.flags&flagKeyGUID != 0 {
		return formatGUID(c.key)
	}
	return c.field(textKey)
}

// KeyGUID is the Key as 16 bytes, when it is a canonical GUID.
func (c *CompactRecord) KeyGUID() ([16]byte, bool) { return c.key, c.flags&flagKeyGUID != 0 }

// DistinguishedName is the record's DN (parents: the table Compact used).
func (c *CompactRecord) DistinguishedName(parents *Parents) string {
	if c.parent == noParent {
		return c.field(textDN)
	}
	return c.field(textDN) + "," + parents.list[c.parent]
}

func (c *CompactRecord) field(i int) string {
	start := uint16(0)
	if i > 0 {
		start = c.ends[i-1]
	}
	return c.text[start:c.ends[i]]
}

// splitDN splits a DN after its first RDN (at the first comma no backslash escapes).
func splitDN(dn string) (rdn, parent string, ok bool) {
	for i := 0; i < len(dn); i++ {
		switch dn[i] {
		case '\\':
			i++
		case ',':
			if i+1 < len(dn) {
				return dn[:i], dn[i+1:], true
			}
			return "", "", false
		}
	}
	return "", "", false
}

// ParseGUID reads a GUID in its canonical lower-case form (8-4-4-4-12 hex digits). Any other
// spelling (upper case, braces) is not canonical: ok is false (Compact then keeps the text).
func ParseGUID(s string) (g [16]byte, ok bool) {
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return g, false
	}
	j := 0
	for i := 0; i < 36; {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			i++
			continue
		}
		hi, ok1 := lowerHex(s[i])
		lo, ok2 := lowerHex(s[i+1])
		if !ok1 || !ok2 {
			return g, false
		}
		g[j] = hi<<4 | lo
		i, j = i+2, j+1
	}
	return g, true
}

func lowerHex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

func formatGUID(g [16]byte) string {
	var b [36]byte
	hex.Encode(b[0:8], g[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], g[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], g[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], g[8:10])
	b[23] = '-'
	hex.Encode(b[24:36], g[10:16])
	return string(b[:])
}

func flagIf(set bool, flag uint32) uint32 {
	if set {
		return flag
	}
	return 0
}

func indexOf[T comparable](list []T, v T) (uint8, bool) {
	for i, x := range list {
		if x == v {
			return uint8(i), true
		}
	}
	return 0, false
}
