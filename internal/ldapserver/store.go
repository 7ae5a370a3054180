package ldapserver

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/utils/clock"

	"github.com/fleetlaps/fleetlaps/internal/adsyntax"
)

// Role says what an authenticated account may do.
type Role int

const (
	// RoleNone is an anonymous connection: it may read the rootDSE only.
	RoleNone Role = iota
	// RoleController is the manager's bind account: the outer LAPS permission ring. It reads
	// every non-confidential attribute and writes only the expiration-time attributes.
	RoleController
	// RoleDevice is the identity the simulated devices write with (SELF on their computer
	// objects): it reads and writes every LAPS attribute.
	RoleDevice
	// RoleAdmin reads everything and writes every non-system attribute.
	RoleAdmin
)

func (r Role) String() string {
	switch r {
	case RoleController:
		return "controller"
	case RoleDevice:
		return "device"
	case RoleAdmin:
		return "admin"
	}
	return "anonymous"
}

// Identity is who performs an operation.
type Identity struct {
	DN   string
	Role Role
}

// LDAP result codes the store returns (RFC 4511).
const (
	ResultSuccess                 = 0
	ResultOperationsError         = 1
	ResultProtocolError           = 2
	ResultSizeLimitExceeded       = 4
	ResultUnavailableCriticalExt  = 12
	ResultNoSuchAttribute         = 16
	ResultUndefinedAttributeType  = 17
	ResultConstraintViolation     = 19
	ResultAttributeOrValueExists  = 20
	ResultInvalidAttributeSyntax  = 21
	ResultNoSuchObject            = 32
	ResultInvalidDNSyntax         = 34
	ResultInvalidCredentials      = 49
	ResultInsufficientAccessRight = 50
	ResultUnwillingToPerform      = 53
	ResultOther                   = 80
)

// ResultError is an LDAP failure with its result code.
type ResultError struct {
	Code int
	Msg  string
}

func (e *ResultError) Error() string { return fmt.Sprintf("LDAP result %d: %s", e.Code, e.Msg) }

func resultErr(code int, format string, args ...any) *ResultError {
	return &ResultError{Code: code, Msg: fmt.Sprintf(format, args...)}
}

// Modification operations (RFC 4511 ModifyRequest).
const (
	ModAdd     = 0
	ModDelete  = 1
	ModReplace = 2
)

// Change is one modification of a ModifyRequest. Binary values travel as Go strings.
type Change struct {
	Op   int
	Attr string
	Vals []string
}

type attribute struct {
	def  *attrDef
	name string
	vals []string
}

type attrMeta struct {
	version uint32
	changed time.Time
	usn     int64
}

// Entry is one directory object. Its fields are guarded by the store's lock.
type Entry struct {
	dn    string
	ndn   string
	nc    string // normalized DN of the naming context that holds the entry
	attrs map[string]*attribute
	order []string
	meta  map[string]*attrMeta
}

// DN returns the entry's distinguished name.
func (e *Entry) DN() string { return e.dn }

func (e *Entry) get(name string) *attribute { return e.attrs[strings.ToLower(name)] }

func (e *Entry) first(name string) string {
	if a := e.get(name); a != nil && len(a.vals) > 0 {
		return a.vals[0]
	}
	return ""
}

func (e *Entry) set(name string, vals ...string) {
	key := strings.ToLower(name)
	if len(vals) == 0 {
		if _, ok := e.attrs[key]; ok {
			delete(e.attrs, key)
			for i, k := range e.order {
				if k == key {
					e.order = append(e.order[:i], e.order[i+1:]...)
					break
				}
			}
		}
		return
	}
	if a, ok := e.attrs[key]; ok {
		a.vals = vals
		return
	}
	def := lookupAttr(name)
	if def != nil {
		name = def.Name
	}
	e.attrs[key] = &attribute{def: def, name: name, vals: vals}
	e.order = append(e.order, key)
}

// normalizeDN lower-cases a DN and removes blanks around separators. The embedded directory
// never creates names with escaped separators, so a plain split is exact here.
func normalizeDN(dn string) string {
	parts := strings.Split(dn, ",")
	for i, p := range parts {
		k, v, ok := strings.Cut(p, "=")
		if !ok {
			parts[i] = strings.ToLower(strings.TrimSpace(p))
			continue
		}
		parts[i] = strings.ToLower(strings.TrimSpace(k)) + "=" + strings.ToLower(strings.TrimSpace(v))
	}
	return strings.Join(parts, ",")
}

func parentDN(ndn string) string {
	_, p, ok := strings.Cut(ndn, ",")
	if !ok {
		return ""
	}
	return p
}

// Store is the in-memory directory: one domain naming context, its configuration and schema
// naming contexts, and a global update sequence number bumped on every change.
type Store struct {
	mu      sync.RWMutex
	clock   clock.PassiveClock
	rng     *rand.Rand
	usn     int64
	entries map[string]*Entry
	order   []*Entry

	domainDN, configDN, schemaDN string
	netbios, dnsDomain           string
	domainSID                    string
	nextRID                      uint32
	dsServiceName                string
	invocationID                 []byte
	accounts                     map[string]*account // by normalized DN
	deniedDeviceWrites           map[string]bool
}

type account struct {
	dn       string
	password string
	role     Role
}

func (s *Store) now() time.Time { return s.clock.Now().UTC().Truncate(time.Second) }

func (s *Store) newGUID() []byte { return RandomGUID(s.rng) }

// RandomGUID returns a version-4 GUID drawn from r, in .NET byte order (16 bytes).
func RandomGUID(r *rand.Rand) []byte {
	b := make([]byte, 16)
	binary.LittleEndian.PutUint64(b[0:8], r.Uint64())
	binary.LittleEndian.PutUint64(b[8:16], r.Uint64())
	b[7] = b[7]&0x0f | 0x40 // version 4: byte 7 is the high byte of the little-endian third field
	b[8] = b[8]&0x3f | 0x80
	return b
}

func generalizedTime(t time.Time) string { return t.UTC().Format("20060102150405") + ".0Z" }

// addEntry creates an entry with the given attributes (objectClass first). Callers hold s.mu.
func (s *Store) addEntry(dn string, attrs map[string][]string, classes ...string) (*Entry, error) {
	ndn := normalizeDN(dn)
	if _, ok := s.entries[ndn]; ok {
		return nil, resultErr(ResultAttributeOrValueExists, "entry %s already exists", dn)
	}
	if p := parentDN(ndn); p != "" && ndn != normalizeDN(s.domainDN) {
		if _, ok := s.entries[p]; !ok {
			return nil, resultErr(ResultNoSuchObject, "parent of %s does not exist", dn)
		}
	}
	s.usn++
	now := s.now()
	e := &Entry{dn: dn, ndn: ndn, attrs: map[string]*attribute{}, meta: map[string]*attrMeta{}}
	e.nc = s.namingContextOf(ndn)
	e.set("objectClass", classes...)
	rdnVal := dn
	if k, v, ok := strings.Cut(strings.SplitN(dn, ",", 2)[0], "="); ok {
		rdnVal = v
		e.set(strings.TrimSpace(k), v)
	}
	e.set("distinguishedName", dn)
	e.set("name", rdnVal)
	e.set("objectGUID", string(s.newGUID()))
	keys := make([]string, 0, len(attrs))
	for k := range attrs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		e.set(k, attrs[k]...)
	}
	e.set("whenCreated", generalizedTime(now))
	e.set("whenChanged", generalizedTime(now))
	e.set("uSNCreated", strconv.FormatInt(s.usn, 10))
	e.set("uSNChanged", strconv.FormatInt(s.usn, 10))
	for _, k := range e.order {
		e.meta[k] = &attrMeta{version: 1, changed: now, usn: s.usn}
	}
	s.entries[ndn] = e
	s.order = append(s.order, e)
	return e, nil
}

func (s *Store) namingContextOf(ndn string) string {
	for _, nc := range []string{normalizeDN(s.schemaDN), normalizeDN(s.configDN)} {
		if ndn == nc || strings.HasSuffix(ndn, ","+nc) {
			return nc
		}
	}
	return normalizeDN(s.domainDN)
}

func (s *Store) newSID() string {
	s.nextRID++
	return fmt.Sprintf("%s-%d", s.domainSID, s.nextRID)
}

func sidValue(sid string) string {
	b, err := adsyntax.SIDBytes(sid)
	if err != nil {
		panic(err) // only called with SIDs this package built
	}
	return string(b)
}

// Computer describes a computer object to create.
type Computer struct {
	// Name is the computer name (cn, and sAMAccountName with a trailing $).
	Name string
	// Container is the DN of the OU that holds it; empty means CN=Computers (or OU=Domain
	// Controllers for a DC).
	Container        string
	DomainController bool
	OperatingSystem  string
	OSVersion        string
}

// uacWorkstation and uacServerTrust are the userAccountControl values of a workstation and a
// domain controller account.
const (
	uacWorkstation = 0x1000
	uacServerTrust = 0x2000
)

// AddComputer creates a computer object and returns its DN.
func (s *Store) AddComputer(c Computer) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	container := c.Container
	if container == "" {
		container = "CN=Computers," + s.domainDN
		if c.DomainController {
			container = "OU=Domain Controllers," + s.domainDN
		}
	}
	dn := "CN=" + c.Name + "," + container
	uac := uacWorkstation
	if c.DomainController {
		uac = uacServerTrust
	}
	attrs := map[string][]string{
		"sAMAccountName":     {strings.ToUpper(c.Name) + "$"},
		"dNSHostName":        {strings.ToLower(c.Name) + "." + s.dnsDomain},
		"userAccountControl": {strconv.Itoa(uac)},
		"objectSid":          {sidValue(s.newSID())},
		"objectCategory":     {"CN=Computer," + s.schemaDN},
	}
	if c.OperatingSystem != "" {
		attrs["operatingSystem"] = []string{c.OperatingSystem}
	}
	if c.OSVersion != "" {
		attrs["operatingSystemVersion"] = []string{c.OSVersion}
	}
	_, err := s.addEntry(dn, attrs, "top", "person", "organizationalPerson", "user", "computer")
	return dn, err
}

// AddOU creates an organizational unit under parent (empty: the domain root) and returns its DN.
func (s *Store) AddOU(parent, name string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if parent == "" {
		parent = s.domainDN
	}
	dn := "OU=" + name + "," + parent
	if _, ok := s.entries[normalizeDN(dn)]; ok {
		return dn, nil
	}
	_, err := s.addEntry(dn, map[string][]string{"objectCategory": {"CN=Organizational-Unit," + s.schemaDN}}, "top", "organizationalUnit")
	return dn, err
}

// AddGroup creates a security group in CN=Users and returns its SID. rid 0 picks the next free
// relative id.
func (s *Store) AddGroup(name string, rid uint32) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addGroupLocked(name, rid)
}

func (s *Store) addGroupLocked(name string, rid uint32) (string, error) {
	sid := s.newSID()
	if rid != 0 {
		sid = fmt.Sprintf("%s-%d", s.domainSID, rid)
	}
	_, err := s.addEntry("CN="+name+",CN=Users,"+s.domainDN, map[string][]string{
		"sAMAccountName": {name},
		"objectSid":      {sidValue(sid)},
		"objectCategory": {"CN=Group," + s.schemaDN},
	}, "top", "group")
	return sid, err
}

// AddUser creates a user in CN=Users with a userPrincipalName of name@<dns domain> and returns
// its DN and SID. A non-empty password makes it an account that can bind with role.
func (s *Store) AddUser(name, password string, role Role) (dn, sid string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addUserLocked(name, password, role)
}

func (s *Store) addUserLocked(name, password string, role Role) (string, string, error) {
	sid := s.newSID()
	dn := "CN=" + name + ",CN=Users," + s.domainDN
	_, err := s.addEntry(dn, map[string][]string{
		"sAMAccountName":     {name},
		"userPrincipalName":  {name + "@" + s.dnsDomain},
		"objectSid":          {sidValue(sid)},
		"userAccountControl": {"512"},
		"objectCategory":     {"CN=Person," + s.schemaDN},
	}, "top", "person", "organizationalPerson", "user")
	if err != nil {
		return "", "", err
	}
	if password != "" {
		s.accounts[normalizeDN(dn)] = &account{dn: dn, password: password, role: role}
	}
	return dn, sid, nil
}

// authenticate resolves a bind name (DN, user@domain or DOMAIN\user) and checks the password.
// An empty password is an anonymous (or unauthenticated, RFC 4513) bind: it succeeds as
// anonymous, which may read the rootDSE only, as on a domain controller.
func (s *Store) authenticate(name, password string) (Identity, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if password == "" {
		return Identity{}, true
	}
	ndn := normalizeDN(name)
	if _, ok := s.accounts[ndn]; !ok {
		user := ""
		switch {
		case strings.Contains(name, `\`):
			d, u, _ := strings.Cut(name, `\`)
			if strings.EqualFold(d, s.netbios) || strings.EqualFold(d, s.dnsDomain) {
				user = u
			}
		case strings.Contains(name, "@"):
			u, d, _ := strings.Cut(name, "@")
			if strings.EqualFold(d, s.dnsDomain) {
				user = u
			}
		}
		for k, a := range s.accounts {
			if user != "" && strings.EqualFold(s.entries[k].first("sAMAccountName"), user) {
				ndn = normalizeDN(a.dn)
			}
		}
	}
	a, ok := s.accounts[ndn]
	if !ok || a.password != password {
		return Identity{}, false
	}
	return Identity{DN: a.dn, Role: a.role}, true
}

// canRead says whether id may see attribute def.
func canRead(id Identity, def *attrDef) bool {
	if def == nil || !def.Secret {
		return true
	}
	return id.Role == RoleDevice || id.Role == RoleAdmin
}

// Modify applies changes to the entry dn as id, atomically: either every change applies or
// none does. It bumps uSNChanged and whenChanged and the replication metadata of each
// attribute it touches.
func (s *Store) Modify(id Identity, dn string, changes []Change) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.entries[normalizeDN(dn)]
	if !ok {
		return resultErr(ResultNoSuchObject, "no such object: %s", dn)
	}
	if len(changes) == 0 {
		return resultErr(ResultProtocolError, "modify without changes")
	}
	isComputer := hasValueFold(e.get("objectClass"), "computer")
	// Check everything first, then apply to a copy of the touched attributes.
	next := map[string][]string{}
	for _, c := range changes {
		def := lookupAttr(c.Attr)
		if def == nil {
			return resultErr(ResultUndefinedAttributeType, "attribute %q is not in the schema", c.Attr)
		}
		if err := checkWrite(id, def, isComputer); err != nil {
			return err
		}
		if id.Role == RoleDevice && s.deniedDeviceWrites[e.ndn] {
			return resultErr(ResultInsufficientAccessRight, "00002098: SecErr: DSID-03150F94, problem 4003 (INSUFF_ACCESS_RIGHTS), data 0")
		}
		for _, v := range c.Vals {
			if err := checkSyntax(def, v); err != nil {
				return err
			}
		}
		key := strings.ToLower(def.Name)
		cur, seen := next[key]
		if !seen {
			if a := e.attrs[key]; a != nil {
				cur = append([]string(nil), a.vals...)
			}
		}
		switch c.Op {
		case ModReplace:
			cur = dedupe(c.Vals)
		case ModAdd:
			if len(c.Vals) == 0 {
				return resultErr(ResultProtocolError, "add of %s without values", def.Name)
			}
			for _, v := range c.Vals {
				if containsValue(def, cur, v) {
					return resultErr(ResultAttributeOrValueExists, "%s already has that value", def.Name)
				}
				cur = append(cur, v)
			}
		case ModDelete:
			if len(c.Vals) == 0 {
				if len(cur) == 0 {
					return resultErr(ResultNoSuchAttribute, "%s has no value", def.Name)
				}
				cur = nil
				break
			}
			for _, v := range c.Vals {
				i := indexValue(def, cur, v)
				if i < 0 {
					return resultErr(ResultNoSuchAttribute, "%s does not have that value", def.Name)
				}
				cur = append(cur[:i:i], cur[i+1:]...)
			}
		default:
			return resultErr(ResultUnwillingToPerform, "modify operation %d is not supported", c.Op)
		}
		if def.Single && len(cur) > 1 {
			return resultErr(ResultConstraintViolation, "%s is single-valued", def.Name)
		}
		next[key] = cur
	}
	s.usn++
	now := s.now()
	for key, vals := range next {
		e.set(e.nameOf(key), vals...)
		m := e.meta[key]
		if m == nil {
			m = &attrMeta{}
			e.meta[key] = m
		}
		m.version++
		m.changed = now
		m.usn = s.usn
	}
	e.set("uSNChanged", strconv.FormatInt(s.usn, 10))
	e.set("whenChanged", generalizedTime(now))
	return nil
}

func (e *Entry) nameOf(key string) string {
	if d := schemaByName[key]; d != nil {
		return d.Name
	}
	return key
}

func checkWrite(id Identity, def *attrDef, isComputer bool) error {
	denied := resultErr(ResultInsufficientAccessRight,
		"00002098: SecErr: DSID-03150F94, problem 4003 (INSUFF_ACCESS_RIGHTS), data 0: %s may not write %s", id.Role, def.Name)
	if def.System {
		return resultErr(ResultUnwillingToPerform, "%s is system-only", def.Name)
	}
	switch id.Role {
	case RoleAdmin:
		return nil
	case RoleController:
		if isComputer && controllerWritable[strings.ToLower(def.Name)] {
			return nil
		}
	case RoleDevice:
		if isComputer && def.LAPS {
			return nil
		}
	}
	return denied
}

func checkSyntax(def *attrDef, v string) error {
	switch def.Syntax {
	case syntaxInteger, syntaxLargeInteger:
		if _, err := strconv.ParseInt(v, 10, 64); err != nil {
			return resultErr(ResultInvalidAttributeSyntax, "%s: %q is not an integer", def.Name, v)
		}
	}
	if strings.EqualFold(def.Name, AttrCurrentPasswordVersion) && len(v) != 16 {
		return resultErr(ResultInvalidAttributeSyntax, "%s must be 16 bytes, got %d", def.Name, len(v))
	}
	return nil
}

func dedupe(vals []string) []string {
	out := make([]string, 0, len(vals))
	seen := map[string]bool{}
	for _, v := range vals {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

func valueEqual(def *attrDef, a, b string) bool {
	if def != nil && (def.Syntax == syntaxOctets || def.Syntax == syntaxSID) {
		return a == b
	}
	return strings.EqualFold(a, b)
}

func indexValue(def *attrDef, vals []string, v string) int {
	for i, x := range vals {
		if valueEqual(def, x, v) {
			return i
		}
	}
	return -1
}

func containsValue(def *attrDef, vals []string, v string) bool { return indexValue(def, vals, v) >= 0 }

func hasValueFold(a *attribute, v string) bool {
	if a == nil {
		return false
	}
	for _, x := range a.vals {
		if strings.EqualFold(x, v) {
			return true
		}
	}
	return false
}

// replMetadata encodes the entry's replPropertyMetaData as AD returns it: the NDR
// replPropertyMetaDataBlob version 1 (uint32 version, reserved, count, reserved; then 48 bytes
// per attribute: attid, version, originating change time in seconds since 1601, originating
// invocation id, originating USN, local USN), sorted by attid.
func (s *Store) replMetadata(e *Entry) string {
	type row struct {
		attid uint32
		m     *attrMeta
	}
	rows := make([]row, 0, len(e.meta))
	for key, m := range e.meta {
		if d := schemaByName[key]; d != nil {
			rows = append(rows, row{d.attid(), m})
		}
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].attid < rows[j].attid })
	b := make([]byte, 16, 16+48*len(rows))
	binary.LittleEndian.PutUint32(b[0:4], 1)
	binary.LittleEndian.PutUint32(b[8:12], uint32(len(rows)))
	for _, r := range rows {
		var rec [48]byte
		binary.LittleEndian.PutUint32(rec[0:4], r.attid)
		binary.LittleEndian.PutUint32(rec[4:8], r.m.version)
		binary.LittleEndian.PutUint64(rec[8:16], uint64(r.m.changed.Unix()+adsyntax.FiletimeEpochOffset/10_000_000))
		copy(rec[16:32], s.invocationID)
		binary.LittleEndian.PutUint64(rec[32:40], uint64(r.m.usn))
		binary.LittleEndian.PutUint64(rec[40:48], uint64(r.m.usn))
		b = append(b, rec[:]...)
	}
	return string(b)
}

// HighestCommittedUSN is the store's update sequence number.
func (s *Store) HighestCommittedUSN() int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.usn
}

// DenyDeviceWrites makes device-identity writes to dn fail with insufficientAccessRights (a
// computer object whose SELF permission was never granted), or lifts that when deny is false.
func (s *Store) DenyDeviceWrites(dn string, deny bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if deny {
		s.deniedDeviceWrites[normalizeDN(dn)] = true
	} else {
		delete(s.deniedDeviceWrites, normalizeDN(dn))
	}
}

// Read returns the values of the requested attributes of dn as id may see them (all visible
// attributes when attrs is empty). It is the in-process path the simulated devices use.
func (s *Store) Read(id Identity, dn string, attrs ...string) (map[string][]string, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	e, ok := s.entries[normalizeDN(dn)]
	if !ok {
		return nil, resultErr(ResultNoSuchObject, "no such object: %s", dn)
	}
	out := map[string][]string{}
	sel, _ := s.selectAttrs(id, e, attrs)
	for _, a := range sel {
		out[a.name] = append([]string(nil), a.vals...)
	}
	return out, nil
}

// selectAttrs returns the attributes of e that a search for attrs returns to id, and how many
// it withheld because id may not read them.
func (s *Store) selectAttrs(id Identity, e *Entry, attrs []string) (out []attribute, withheld int) {
	all := len(attrs) == 0
	want := map[string]bool{}
	for _, a := range attrs {
		a = strings.ToLower(strings.TrimSpace(a))
		if base, _, ok := strings.Cut(a, ";"); ok {
			a = base
		}
		switch a {
		case "*":
			all = true
		case "1.1", "":
		default:
			want[a] = true
		}
	}
	for _, k := range e.order {
		a := e.attrs[k]
		if !all && !want[k] {
			continue
		}
		if all && a.def != nil && a.def.Internal {
			continue
		}
		if !canRead(id, a.def) {
			withheld++ // AD's confidential flag: silently omitted
			continue
		}
		out = append(out, *a)
	}
	if want["replpropertymetadata"] {
		out = append(out, attribute{name: "replPropertyMetaData", vals: []string{s.replMetadata(e)}})
	}
	return out, withheld
}
