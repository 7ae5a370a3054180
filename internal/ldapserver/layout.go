package ldapserver

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"

	"k8s.io/utils/clock"
)

// StoreConfig shapes the directory a Store starts with.
type StoreConfig struct {
	// DNSDomain is the AD domain name; default demo.fleetlaps.local.
	DNSDomain string
	// NetBIOS is the domain's NetBIOS name; default DEMO.
	NetBIOS string
	// Clock stamps whenChanged and the replication metadata; default the real clock.
	Clock clock.PassiveClock
	// Seed makes objectGUIDs and SIDs reproducible.
	Seed uint64
	// OmitLAPSSchema leaves the LAPS attributes out of the schema naming context and the
	// subschema entry, as a forest where Update-LapsADSchema never ran (writes still work, so
	// tests can mix the two).
	OmitLAPSSchema bool
}

// DomainDN turns demo.fleetlaps.local into DC=demo,DC=fleetlaps,DC=local.
func DomainDN(dnsDomain string) string {
	parts := strings.Split(dnsDomain, ".")
	for i, p := range parts {
		parts[i] = "DC=" + p
	}
	return strings.Join(parts, ",")
}

// NewStore builds the domain, configuration and schema naming contexts: CN=Users,
// CN=Computers, OU=Domain Controllers, the Domain Admins group (RID 512), the crossRef that
// names the domain's NetBIOS name, an NTDS Settings object with an invocationId, an
// attributeSchema object per schema attribute and the subschema entry.
func NewStore(cfg StoreConfig) *Store {
	if cfg.DNSDomain == "" {
		cfg.DNSDomain = "demo.fleetlaps.local"
	}
	if cfg.NetBIOS == "" {
		cfg.NetBIOS = "DEMO"
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x1d2c3b4a))
	domain := DomainDN(cfg.DNSDomain)
	s := &Store{
		clock:              cfg.Clock,
		rng:                rng,
		entries:            map[string]*Entry{},
		domainDN:           domain,
		configDN:           "CN=Configuration," + domain,
		schemaDN:           "CN=Schema,CN=Configuration," + domain,
		netbios:            cfg.NetBIOS,
		dnsDomain:          cfg.DNSDomain,
		domainSID:          fmt.Sprintf("S-1-5-21-%d-%d-%d", rng.Uint32(), rng.Uint32(), rng.Uint32()),
		nextRID:            1100,
		accounts:           map[string]*account{},
		deniedDeviceWrites: map[string]bool{},
	}
	s.invocationID = s.newGUID()
	s.dsServiceName = "CN=NTDS Settings,CN=DC1,CN=Servers,CN=Default-First-Site-Name,CN=Sites," + s.configDN
	must := func(_ any, err error) {
		if err != nil {
			panic(err) // the fixed layout below cannot fail
		}
	}
	s.mu.Lock()
	must(s.addEntry(domain, map[string][]string{"objectSid": {sidValue(s.domainSID)}, "objectCategory": {"CN=Domain-DNS," + s.schemaDN}}, "top", "domain", "domainDNS"))
	must(s.addEntry("CN=Users,"+domain, nil, "top", "container"))
	must(s.addEntry("CN=Computers,"+domain, nil, "top", "container"))
	must(s.addEntry("OU=Domain Controllers,"+domain, nil, "top", "organizationalUnit"))
	must(s.addEntry(s.configDN, nil, "top", "configuration"))
	must(s.addEntry("CN=Partitions,"+s.configDN, nil, "top", "crossRefContainer"))
	must(s.addEntry("CN="+cfg.NetBIOS+",CN=Partitions,"+s.configDN, map[string][]string{
		"nCName": {domain}, "nETBIOSName": {cfg.NetBIOS}, "dnsRoot": {cfg.DNSDomain},
	}, "top", "crossRef"))
	dn := s.dsServiceName
	for _, c := range []string{"CN=Sites,", "CN=Default-First-Site-Name,CN=Sites,", "CN=Servers,CN=Default-First-Site-Name,CN=Sites,", "CN=DC1,CN=Servers,CN=Default-First-Site-Name,CN=Sites,"} {
		must(s.addEntry(c+s.configDN, nil, "top", "container"))
	}
	must(s.addEntry(dn, map[string][]string{"invocationId": {string(s.invocationID)}}, "top", "applicationSettings", "nTDSDSA"))
	must(s.addEntry(s.schemaDN, nil, "top", "dMD"))
	var types []string
	for i := range schemaAttrs {
		d := &schemaAttrs[i]
		if d.LAPS && cfg.OmitLAPSSchema {
			continue
		}
		attrs := map[string][]string{
			"lDAPDisplayName": {d.Name},
			"attributeID":     {d.OID},
			"attributeSyntax": {d.Syntax},
			"isSingleValued":  {strings.ToUpper(strconv.FormatBool(d.Single))},
			"searchFlags":     {strconv.Itoa(d.Flags)},
		}
		if d.IntID != 0 {
			attrs["msDS-IntId"] = []string{strconv.Itoa(int(d.IntID))}
		}
		must(s.addEntry("CN="+schemaCN(d.Name)+","+s.schemaDN, attrs, "top", "attributeSchema"))
		single := ""
		if d.Single {
			single = " SINGLE-VALUE"
		}
		types = append(types, fmt.Sprintf("( %s NAME '%s' SYNTAX '%s'%s )", d.OID, d.Name, d.Syntax, single))
	}
	must(s.addEntry("CN=Aggregate,"+s.schemaDN, map[string][]string{"attributeTypes": types}, "top", "subSchema"))
	_, err := s.addGroupLocked("Domain Admins", 512)
	must(nil, err)
	s.mu.Unlock()
	return s
}

// schemaCN turns msLAPS-PasswordExpirationTime into ms-LAPS-Password-Expiration-Time, the
// common-name style of attributeSchema objects.
func schemaCN(name string) string {
	var b strings.Builder
	for i, r := range name {
		if i > 0 && r >= 'A' && r <= 'Z' && name[i-1] >= 'a' && name[i-1] <= 'z' {
			b.WriteByte('-')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// DomainDN is the domain naming context.
func (s *Store) DomainDN() string { return s.domainDN }

// DNSDomain is the domain's DNS name.
func (s *Store) DNSDomain() string { return s.dnsDomain }

// NetBIOS is the domain's NetBIOS name.
func (s *Store) NetBIOS() string { return s.netbios }

// DomainSID is the domain's SID.
func (s *Store) DomainSID() string { return s.domainSID }

// SubschemaDN is the DN of the subschema entry.
func (s *Store) SubschemaDN() string { return "CN=Aggregate," + s.schemaDN }
