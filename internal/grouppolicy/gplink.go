package grouppolicy

import (
	"strconv"
	"strings"

	"github.com/fleetlaps/fleetlaps/internal/dn"
)

// Link options in a gPLink entry ([LDAP://<GPO DN>;<options>]): bit 0 disables the link, bit 1
// enforces it (MS-GPOL 2.2.2).
const (
	LinkDisabled = 1
	LinkEnforced = 2
)

// linkEntry is one [LDAP://dn;options] entry as it stands in the attribute.
type linkEntry struct {
	raw     string
	dn      string
	options int
	parsed  bool
}

// splitLinks cuts a gPLink value into its entries, keeping each one's exact text so entries of
// other Group Policy objects are written back byte for byte. Text that is not a well-formed
// entry is kept as an unparsed entry and never matched.
func splitLinks(v string) []linkEntry {
	var out []linkEntry
	for len(v) > 0 {
		if v[0] != '[' {
			i := strings.IndexByte(v, '[')
			if i < 0 {
				i = len(v)
			}
			out = append(out, linkEntry{raw: v[:i]})
			v = v[i:]
			continue
		}
		end := strings.IndexByte(v, ']')
		if end < 0 {
			out = append(out, linkEntry{raw: v})
			break
		}
		raw := v[:end+1]
		v = v[end+1:]
		e := linkEntry{raw: raw}
		body := raw[1:end]
		if semi := strings.LastIndexByte(body, ';'); semi > 0 && len(body) > 7 && strings.EqualFold(body[:7], "LDAP://") {
			if n, err := strconv.Atoi(body[semi+1:]); err == nil {
				e.dn, e.options, e.parsed = body[7:semi], n, true
			}
		}
		out = append(out, e)
	}
	return out
}

func joinLinks(es []linkEntry) string {
	var b strings.Builder
	for _, e := range es {
		b.WriteString(e.raw)
	}
	return b.String()
}

// FormatLink is the entry the controller writes for gpoDN.
func FormatLink(gpoDN string, enforced bool) string {
	opt := 0
	if enforced {
		opt = LinkEnforced
	}
	return "[LDAP://" + gpoDN + ";" + strconv.Itoa(opt) + "]"
}

// LinkState is how gpoDN is linked in a gPLink value.
type LinkState struct {
	Linked   bool
	Options  int
	Count    int // entries naming gpoDN (more than one is a hand edit)
	Enforced bool
	Disabled bool
}

// FindLink reports how gpoDN is linked in v (DNs compared structurally, case-insensitively).
func FindLink(v, gpoDN string) LinkState {
	var s LinkState
	for _, e := range splitLinks(v) {
		if e.parsed && dn.Equal(e.dn, gpoDN) {
			if s.Count == 0 {
				s.Options = e.options
			}
			s.Count++
		}
	}
	s.Linked = s.Count > 0
	s.Enforced = s.Options&LinkEnforced != 0
	s.Disabled = s.Options&LinkDisabled != 0
	return s
}

// WithLink returns v with exactly one entry for gpoDN, enabled and enforced as asked. An entry
// already in place keeps its position; a new one goes first, as Group Policy Management and
// samba-tool add a new link (it then has the lowest precedence among the target's links). Every
// other entry is kept byte for byte. changed is false when v already says exactly that.
func WithLink(v, gpoDN string, enforced bool) (out string, changed bool) {
	want := FormatLink(gpoDN, enforced)
	es := splitLinks(v)
	kept := es[:0:0]
	placed := false
	for _, e := range es {
		if e.parsed && dn.Equal(e.dn, gpoDN) {
			if placed {
				continue // a duplicate of our entry: drop it
			}
			placed = true
			opt := 0
			if enforced {
				opt = LinkEnforced
			}
			if e.options != opt {
				e = linkEntry{raw: want, dn: gpoDN, options: opt, parsed: true}
			}
		}
		kept = append(kept, e)
	}
	if !placed {
		kept = append([]linkEntry{{raw: want, dn: gpoDN, parsed: true}}, kept...)
	}
	out = joinLinks(kept)
	return out, out != v
}

// WithoutLink returns v without any entry for gpoDN; every other entry is kept byte for byte.
func WithoutLink(v, gpoDN string) (out string, changed bool) {
	es := splitLinks(v)
	kept := es[:0:0]
	for _, e := range es {
		if e.parsed && dn.Equal(e.dn, gpoDN) {
			continue
		}
		kept = append(kept, e)
	}
	out = joinLinks(kept)
	return out, out != v
}
