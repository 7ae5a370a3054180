package ldapserver

import (
	"fmt"
	"strconv"
	"strings"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"
)

// tri is the three-valued logic of RFC 4511 filters: an assertion on an attribute the caller
// cannot see, or with a value the attribute's syntax cannot hold, is Undefined.
type tri int8

const (
	triFalse tri = iota
	triTrue
	triUndefined
)

// Matching rules AD implements for bit tests on integers.
const (
	matchingRuleBitAnd = "1.2.840.113556.1.4.803"
	matchingRuleBitOr  = "1.2.840.113556.1.4.804"
)

// compileFilter parses an RFC 4515 filter string. It never panics.
func compileFilter(s string) (p *ber.Packet, err error) {
	defer func() {
		if r := recover(); r != nil {
			p, err = nil, fmt.Errorf("malformed filter %q", s)
		}
	}()
	if strings.TrimSpace(s) == "" {
		s = "(objectClass=*)"
	}
	return ldap.CompileFilter(s)
}

// match evaluates filter f on e as seen by id. Malformed packets evaluate to Undefined.
func match(f *ber.Packet, e *Entry, id Identity) (res bool) {
	defer func() {
		if r := recover(); r != nil {
			res = false
		}
	}()
	return eval(f, e, id, 0) == triTrue
}

func eval(f *ber.Packet, e *Entry, id Identity, depth int) tri {
	if f == nil || depth > 64 {
		return triUndefined
	}
	switch f.Tag {
	case ldap.FilterAnd:
		out := triTrue
		for _, c := range f.Children {
			switch eval(c, e, id, depth+1) {
			case triFalse:
				return triFalse
			case triUndefined:
				out = triUndefined
			}
		}
		return out
	case ldap.FilterOr:
		out := triFalse
		for _, c := range f.Children {
			switch eval(c, e, id, depth+1) {
			case triTrue:
				return triTrue
			case triUndefined:
				out = triUndefined
			}
		}
		return out
	case ldap.FilterNot:
		if len(f.Children) != 1 {
			return triUndefined
		}
		switch eval(f.Children[0], e, id, depth+1) {
		case triTrue:
			return triFalse
		case triFalse:
			return triTrue
		}
		return triUndefined
	case ldap.FilterPresent:
		name := ber.DecodeString(f.Data.Bytes())
		if strings.EqualFold(name, "objectClass") {
			return triTrue
		}
		a, ok := visible(e, id, name)
		if !ok {
			return triUndefined
		}
		if a == nil {
			return triFalse
		}
		return triTrue
	case ldap.FilterEqualityMatch, ldap.FilterApproxMatch, ldap.FilterGreaterOrEqual, ldap.FilterLessOrEqual:
		if len(f.Children) != 2 {
			return triUndefined
		}
		name := ber.DecodeString(f.Children[0].Data.Bytes())
		val := f.Children[1].Data.String()
		a, ok := visible(e, id, name)
		if !ok {
			return triUndefined
		}
		if a == nil {
			return triFalse
		}
		return compareAny(f.Tag, a, name, val)
	case ldap.FilterSubstrings:
		if len(f.Children) != 2 {
			return triUndefined
		}
		name := ber.DecodeString(f.Children[0].Data.Bytes())
		a, ok := visible(e, id, name)
		if !ok {
			return triUndefined
		}
		if a == nil {
			return triFalse
		}
		for _, v := range a.vals {
			if substringMatch(strings.ToLower(v), f.Children[1].Children) {
				return triTrue
			}
		}
		return triFalse
	case ldap.FilterExtensibleMatch:
		var rule, name, val string
		for _, c := range f.Children {
			switch c.Tag {
			case ldap.MatchingRuleAssertionMatchingRule:
				rule = ber.DecodeString(c.Data.Bytes())
			case ldap.MatchingRuleAssertionType:
				name = ber.DecodeString(c.Data.Bytes())
			case ldap.MatchingRuleAssertionMatchValue:
				val = ber.DecodeString(c.Data.Bytes())
			}
		}
		if rule != matchingRuleBitAnd && rule != matchingRuleBitOr {
			return triUndefined
		}
		mask, err := strconv.ParseInt(val, 10, 64)
		if err != nil {
			return triUndefined
		}
		a, ok := visible(e, id, name)
		if !ok {
			return triUndefined
		}
		if a == nil {
			return triFalse
		}
		for _, v := range a.vals {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				continue
			}
			if (rule == matchingRuleBitAnd && n&mask == mask) || (rule == matchingRuleBitOr && n&mask != 0) {
				return triTrue
			}
		}
		return triFalse
	}
	return triUndefined
}

// visible returns the attribute (nil when absent) and false when id may not see it: a filter
// on a confidential attribute is Undefined for the controller, so it cannot probe values.
func visible(e *Entry, id Identity, name string) (*attribute, bool) {
	if base, _, ok := strings.Cut(name, ";"); ok {
		name = base
	}
	def := lookupAttr(name)
	if !canRead(id, def) {
		return nil, false
	}
	return e.get(name), true
}

func compareAny(tag ber.Tag, a *attribute, name, val string) tri {
	def := a.def
	numeric := def != nil && (def.Syntax == syntaxInteger || def.Syntax == syntaxLargeInteger)
	var want int64
	if numeric {
		n, err := strconv.ParseInt(val, 10, 64)
		if err != nil {
			return triUndefined
		}
		want = n
	}
	for _, v := range a.vals {
		var c int
		switch {
		case numeric:
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				continue
			}
			c = cmpInt(n, want)
		case def != nil && (def.Syntax == syntaxOctets || def.Syntax == syntaxSID):
			c = strings.Compare(v, val)
		case tag == ldap.FilterEqualityMatch && strings.EqualFold(name, "objectCategory"):
			// AD accepts the class name for objectCategory and maps it to its DN.
			if strings.EqualFold(v, val) || strings.EqualFold(rdnValue(v), val) ||
				strings.EqualFold(strings.ReplaceAll(rdnValue(v), "-", ""), val) {
				return triTrue
			}
			continue
		default:
			c = strings.Compare(strings.ToLower(v), strings.ToLower(val))
		}
		switch tag {
		case ldap.FilterEqualityMatch, ldap.FilterApproxMatch:
			if c == 0 {
				return triTrue
			}
		case ldap.FilterGreaterOrEqual:
			if c >= 0 {
				return triTrue
			}
		case ldap.FilterLessOrEqual:
			if c <= 0 {
				return triTrue
			}
		}
	}
	return triFalse
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func rdnValue(dn string) string {
	first, _, _ := strings.Cut(dn, ",")
	_, v, _ := strings.Cut(first, "=")
	return v
}

func substringMatch(v string, parts []*ber.Packet) bool {
	for i, p := range parts {
		s := strings.ToLower(ber.DecodeString(p.Data.Bytes()))
		switch p.Tag {
		case ldap.FilterSubstringsInitial:
			if i != 0 || !strings.HasPrefix(v, s) {
				return false
			}
			v = v[len(s):]
		case ldap.FilterSubstringsAny:
			j := strings.Index(v, s)
			if j < 0 {
				return false
			}
			v = v[j+len(s):]
		case ldap.FilterSubstringsFinal:
			if i != len(parts)-1 || !strings.HasSuffix(v, s) {
				return false
			}
			v = ""
		default:
			return false
		}
	}
	return true
}
