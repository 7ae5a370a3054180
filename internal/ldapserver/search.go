package ldapserver

import (
	"strconv"
	"strings"

	ber "github.com/go-asn1-ber/asn1-ber"
)

// Scopes (RFC 4511).
const (
	ScopeBase = 0
	ScopeOne  = 1
	ScopeSub  = 2
)

// find returns the entries under base (in scope) that match f for id, in creation order. A
// subtree search stays inside the naming context of its base, as on a domain controller.
func (s *Store) find(id Identity, base string, scope int, f *ber.Packet) ([]*Entry, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	nbase := normalizeDN(base)
	b, ok := s.entries[nbase]
	if !ok {
		return nil, resultErr(ResultNoSuchObject, "0000208D: NameErr: DSID-0310028B, problem 2001 (NO_OBJECT), data 0, best match of: '%s'", s.domainDN)
	}
	if scope == ScopeBase {
		if match(f, b, id) {
			return []*Entry{b}, nil
		}
		return nil, nil
	}
	var out []*Entry
	suffix := "," + nbase
	for _, e := range s.order {
		if e.nc != b.nc {
			continue
		}
		switch {
		case e.ndn == nbase:
			if scope != ScopeSub {
				continue
			}
		case !strings.HasSuffix(e.ndn, suffix):
			continue
		case scope == ScopeOne && parentDN(e.ndn) != nbase:
			continue
		}
		if match(f, e, id) {
			out = append(out, e)
		}
	}
	return out, nil
}

// rootDSE builds the rootDSE entry (not stored: it reflects the live USN).
func (s *Store) rootDSE() *Entry {
	s.mu.RLock()
	defer s.mu.RUnlock()
	e := &Entry{attrs: map[string]*attribute{}}
	e.set("objectClass", "top")
	e.set("defaultNamingContext", s.domainDN)
	e.set("rootDomainNamingContext", s.domainDN)
	e.set("configurationNamingContext", s.configDN)
	e.set("schemaNamingContext", s.schemaDN)
	e.set("namingContexts", s.domainDN, s.configDN, s.schemaDN)
	e.set("dsServiceName", s.dsServiceName)
	e.set("serverName", "CN=DC1,CN=Servers,CN=Default-First-Site-Name,CN=Sites,"+s.configDN)
	e.set("dnsHostName", "dc1."+s.dnsDomain)
	e.set("ldapServiceName", s.dnsDomain+":dc1$@"+strings.ToUpper(s.dnsDomain))
	e.set("highestCommittedUSN", strconv.FormatInt(s.usn, 10))
	e.set("subschemaSubentry", "CN=Aggregate,"+s.schemaDN)
	e.set("supportedControl", ControlPagedResults)
	e.set("supportedExtension", ExtendedStartTLS)
	e.set("supportedLDAPVersion", "3")
	e.set("supportedCapabilities", "1.2.840.113556.1.4.800") // LDAP_CAP_ACTIVE_DIRECTORY_OID
	e.set("domainFunctionality", "7")
	e.set("forestFunctionality", "7")
	e.set("domainControllerFunctionality", "7")
	e.set("isSynchronized", "TRUE")
	e.set("currentTime", generalizedTime(s.now()))
	return e
}

// OIDs the server announces in the rootDSE.
const (
	ControlPagedResults = "1.2.840.113556.1.4.319"
	ExtendedStartTLS    = "1.3.6.1.4.1.1466.20037"
)
