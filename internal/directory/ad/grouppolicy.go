package ad

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/cloudsoda/go-smb2"
	"github.com/go-ldap/ldap/v3"

	"github.com/fleetlaps/fleetlaps/internal/directory"
	"github.com/fleetlaps/fleetlaps/internal/dn"
	"github.com/fleetlaps/fleetlaps/internal/grouppolicy"
)

var _ directory.GroupPolicyPublisher = (*Directory)(nil)

// gpoAttributes are all the publisher reads from a groupPolicyContainer (no password attribute:
// New checks this list against the deny-list too).
var gpoAttributes = []string{"displayName", "flags", "gPCFunctionalityVersion", "gPCFileSysPath",
	"gPCMachineExtensionNames", "versionNumber", "adminDescription", "cn"}

// ownerMarkPrefix starts the adminDescription of every Group Policy object the controller
// created; the rest is the owning LapsPolicy. Objects without it are never changed or deleted.
const ownerMarkPrefix = "fleetlaps-owner: "

func ownerMark(owner string) string { return ownerMarkPrefix + owner }

// gpoSession is one publish or withdraw: an LDAP connection bound as the publishing account and,
// when the template is touched, an SMB session on SYSVOL.
type gpoSession struct {
	d         *Directory
	cfg       GroupPolicyConfig
	password  string
	conn      *ldap.Conn
	domainDN  string
	realm     string // DNS domain name
	bases     []string
	smb       *smb2.Session
	sysvol    *smb2.Share
	smbTarget string
}

func (d *Directory) openGPOSession(ctx context.Context, op string) (*gpoSession, error) {
	if d.cfg.GroupPolicy == nil {
		return nil, d.fail(op, directory.ErrInvalidConfig, errors.New("the connection has no groupPolicy publishing account configured"))
	}
	g := *d.cfg.GroupPolicy
	password, err := readPasswordFile(g.PasswordFile)
	if err != nil {
		return nil, d.fail(op, directory.ErrInvalidConfig, fmt.Errorf("groupPolicy.%w", err))
	}
	var errs []error
	for _, raw := range d.cfg.URLs {
		conn, err := d.dial(ctx, raw)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", raw, err))
			continue
		}
		conn.SetTimeout(d.cfg.Timeout.Duration)
		if err := conn.Bind(g.BindDN, password); err != nil {
			_ = conn.Close()
			return nil, d.fail(op, classify(err), fmt.Errorf("%s: bind as %s: %w", raw, g.BindDN, err))
		}
		res, err := conn.Search(ldap.NewSearchRequest("", ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false,
			"(objectClass=*)", []string{"defaultNamingContext"}, nil))
		if err != nil || len(res.Entries) != 1 {
			_ = conn.Close()
			errs = append(errs, fmt.Errorf("%s: rootDSE: %v", raw, err))
			continue
		}
		s := &gpoSession{d: d, cfg: g, password: password, conn: conn, domainDN: res.Entries[0].GetAttributeValue("defaultNamingContext")}
		s.realm = dnsDomainOf(s.domainDN)
		s.bases = d.cfg.SearchBases
		if len(s.bases) == 0 {
			s.bases = []string{s.domainDN}
		}
		s.smbTarget = g.SMBAddress
		if s.smbTarget == "" {
			u, _ := url.Parse(raw)
			s.smbTarget = net.JoinHostPort(u.Hostname(), "445")
		}
		return s, nil
	}
	return nil, d.fail(op, directory.ErrUnreachable, errors.Join(errs...))
}

func (s *gpoSession) close() {
	if s.sysvol != nil {
		_ = s.sysvol.Umount()
	}
	if s.smb != nil {
		_ = s.smb.Logoff()
	}
	_ = s.conn.Close()
}

// mountSysvol opens the SYSVOL share over SMB2/3 with NTLMv2; the client signs because a DC
// requires signing.
func (s *gpoSession) mountSysvol(ctx context.Context) (*smb2.Share, error) {
	if s.sysvol != nil {
		return s.sysvol, nil
	}
	dialer := &smb2.Dialer{Initiator: &smb2.NTLMInitiator{User: s.cfg.User, Password: s.password, Domain: s.cfg.Domain}}
	sess, err := dialer.Dial(ctx, s.smbTarget)
	if err != nil {
		if strings.Contains(err.Error(), "LOGON_FAILURE") || strings.Contains(err.Error(), "logon failure") {
			return nil, directory.NewError(directory.ErrAuthFailed, s.d.cfg.Name, "sysvol", fmt.Errorf("SMB logon to %s as %s\\%s: %w", s.smbTarget, s.cfg.Domain, s.cfg.User, err))
		}
		return nil, directory.NewError(directory.ErrUnreachable, s.d.cfg.Name, "sysvol", fmt.Errorf("SMB %s: %w", s.smbTarget, err))
	}
	s.smb = sess.WithContext(ctx)
	share, err := s.smb.Mount("sysvol")
	if err != nil {
		return nil, directory.NewError(directory.ErrUnreachable, s.d.cfg.Name, "sysvol", fmt.Errorf("mounting \\\\%s\\sysvol: %w", s.smbTarget, err))
	}
	s.sysvol = share.WithContext(ctx)
	return s.sysvol, nil
}

func (s *gpoSession) policiesDN() string { return "CN=Policies,CN=System," + s.domainDN }

func (s *gpoSession) gpoDN(guid string) string { return "CN=" + guid + "," + s.policiesDN() }

// templateDir is the object's folder inside the sysvol share.
func (s *gpoSession) templateDir(guid string) string { return s.realm + `\Policies\` + guid }

func (s *gpoSession) fileSysPath(guid string) string {
	return `\\` + s.realm + `\sysvol\` + s.realm + `\Policies\` + guid
}

// missingRight is ErrPermissionDenied naming the right the publishing account lacks.
func (s *gpoSession) missingRight(op, right string, err error) error {
	return s.d.fail(op, directory.ErrPermissionDenied, fmt.Errorf("the publishing account %s lacks %s: %w", s.cfg.BindDN, right, err))
}

func (s *gpoSession) ldapFail(op, right string, err error) error {
	if classify(err) == directory.ErrPermissionDenied {
		return s.missingRight(op, right, err)
	}
	return s.d.failClassified(op, err)
}

func (s *gpoSession) smbFail(op, right string, err error) error {
	if errors.Is(err, fs.ErrPermission) || strings.Contains(err.Error(), "ACCESS_DENIED") {
		return s.missingRight(op, right, err)
	}
	var de *directory.Error
	if errors.As(err, &de) {
		return de
	}
	return s.d.fail(op, directory.ErrUnreachable, err)
}

// findOwned returns the container carrying owner's mark, or nil.
func (s *gpoSession) findOwned(owner string) (*ldap.Entry, error) {
	res, err := s.conn.Search(ldap.NewSearchRequest(s.policiesDN(), ldap.ScopeSingleLevel, ldap.NeverDerefAliases, 0, 0, false,
		"(&(objectClass=groupPolicyContainer)(adminDescription="+ldap.EscapeFilter(ownerMark(owner))+"))", gpoAttributes, nil))
	if err != nil {
		return nil, err
	}
	switch len(res.Entries) {
	case 0:
		return nil, nil
	case 1:
		return res.Entries[0], nil
	default:
		return nil, fmt.Errorf("%d Group Policy objects carry the ownership mark of %s; remove the copies made by hand", len(res.Entries), owner)
	}
}

// checkTargets refuses any link target outside the connection's search bases (another
// tenant's OU included) before anything is written.
func (s *gpoSession) checkTargets(links []directory.GroupPolicyLink) error {
	for _, l := range links {
		if _, err := dn.Parse(l.Target); err != nil {
			return s.d.fail("publishGroupPolicy", directory.ErrOutOfScope, err)
		}
		if !dn.WithinAny(l.Target, s.bases) {
			return s.d.fail("publishGroupPolicy", directory.ErrOutOfScope,
				fmt.Errorf("link target %q lies outside the connection's search bases %q; nothing was written", l.Target, s.bases))
		}
	}
	return nil
}

// PublishGroupPolicy implements directory.GroupPolicyPublisher.
func (d *Directory) PublishGroupPolicy(ctx context.Context, gpo directory.GroupPolicyObject) (directory.GroupPolicyResult, error) {
	const op = "publishGroupPolicy"
	var res directory.GroupPolicyResult
	s, err := d.openGPOSession(ctx, op)
	if err != nil {
		return res, err
	}
	defer s.close()
	if err := s.checkTargets(gpo.Links); err != nil {
		return res, err
	}
	e, err := s.findOwned(gpo.Owner)
	if err != nil {
		return res, d.failClassified(op, err)
	}
	if e == nil {
		guid, err := s.create(gpo)
		if err != nil {
			return res, err
		}
		res.Created = true
		e = &ldap.Entry{DN: s.gpoDN(guid), Attributes: []*ldap.EntryAttribute{{Name: "cn", Values: []string{guid}}, {Name: "versionNumber", Values: []string{"0"}}}}
	}
	guid := strings.ToUpper(e.GetAttributeValue("cn"))
	res.GUID = guid
	share, err := s.mountSysvol(ctx)
	if err != nil {
		return res, err
	}
	dir := s.templateDir(guid)
	obs := grouppolicy.Observed{
		DisplayName: e.GetAttributeValue("displayName"), Flags: e.GetAttributeValue("flags"),
		FunctionalityVersion: e.GetAttributeValue("gPCFunctionalityVersion"), FileSysPath: e.GetAttributeValue("gPCFileSysPath"),
		MachineExtensions: e.GetAttributeValue("gPCMachineExtensionNames"),
	}
	v, _ := strconv.ParseInt(e.GetAttributeValue("versionNumber"), 10, 64)
	obs.Version = uint32(v)
	if obs.GPTINI, err = readIfExists(share, dir+`\GPT.INI`); err != nil {
		return res, s.smbFail(op, `read on the SYSVOL Policies folder \\`+s.realm+`\sysvol\`+s.realm+`\Policies`, err)
	}
	if obs.RegistryPol, err = readIfExists(share, dir+`\Machine\Registry.pol`); err != nil {
		return res, s.smbFail(op, `read on the SYSVOL Policies folder \\`+s.realm+`\sysvol\`+s.realm+`\Policies`, err)
	}
	plan := grouppolicy.PlanTemplate(obs, grouppolicy.Desired{
		DisplayName: gpo.DisplayName, FileSysPath: s.fileSysPath(guid), MachineExtensions: gpo.MachineExtensions, RegistryPol: gpo.RegistryPol,
	})
	res.Version = obs.Version
	if !plan.Empty() {
		res.Differences = append(res.Differences, plan.Differences...)
		if err := s.applyTemplate(share, guid, plan, gpo.RegistryPol, obs.GPTINI == nil); err != nil {
			return res, err
		}
		if plan.WriteVersion {
			res.Version = plan.Version
		}
	}
	diffs, err := s.syncLinks(guid, gpo.Links)
	res.Differences = append(res.Differences, diffs...)
	if err != nil {
		return res, err
	}
	if res.Created {
		res.Differences = nil // a new object is no drift
	}
	return res, nil
}

func readIfExists(share *smb2.Share, name string) ([]byte, error) {
	b, err := share.ReadFile(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return b, err
}

// create adds the container (with the ownership mark, so a crash after this write is found
// again by the mark) and its User and Machine children. versionNumber stays 0 until the template
// is written.
func (s *gpoSession) create(gpo directory.GroupPolicyObject) (string, error) {
	const op = "publishGroupPolicy"
	guid, err := newGUID()
	if err != nil {
		return "", s.d.fail(op, directory.ErrBadData, err)
	}
	add := ldap.NewAddRequest(s.gpoDN(guid), nil)
	add.Attribute("objectClass", []string{"groupPolicyContainer"})
	add.Attribute("displayName", []string{gpo.DisplayName})
	add.Attribute("adminDescription", []string{ownerMark(gpo.Owner)})
	add.Attribute("gPCFunctionalityVersion", []string{grouppolicy.FunctionalityVersion})
	add.Attribute("flags", []string{grouppolicy.FlagsEnabled})
	add.Attribute("versionNumber", []string{"0"})
	add.Attribute("gPCFileSysPath", []string{s.fileSysPath(guid)})
	add.Attribute("gPCMachineExtensionNames", []string{gpo.MachineExtensions})
	if err := s.conn.Add(add); err != nil {
		return "", s.ldapFail(op, "create child (groupPolicyContainer) on "+s.policiesDN(), err)
	}
	for _, child := range []string{"User", "Machine"} {
		a := ldap.NewAddRequest("CN="+child+","+s.gpoDN(guid), nil)
		a.Attribute("objectClass", []string{"container"})
		if err := s.conn.Add(a); err != nil && !ldap.IsErrorWithCode(err, ldap.LDAPResultEntryAlreadyExists) {
			return "", s.ldapFail(op, "create child (container) on its own Group Policy object "+s.gpoDN(guid), err)
		}
	}
	s.d.log.Info("created Group Policy object", "directory", s.d.cfg.Name, "gpo", guid, "owner", gpo.Owner)
	return guid, nil
}

// applyTemplate writes in the order a client can never misread: Registry.pol, then GPT.INI,
// then the container's attributes and versionNumber.
func (s *gpoSession) applyTemplate(share *smb2.Share, guid string, plan grouppolicy.Plan, registryPol []byte, newFolder bool) error {
	const op = "publishGroupPolicy"
	sysvolRight := `write on the SYSVOL Policies folder \\` + s.realm + `\sysvol\` + s.realm + `\Policies`
	dir := s.templateDir(guid)
	if newFolder {
		// The folder's ACL is derived from the container's, before any file is written into it
		// (files inherit it), as Group Policy tools keep the two halves' permissions in step.
		if err := share.MkdirAll(dir, 0o755); err != nil {
			return s.smbFail(op, sysvolRight, err)
		}
		if err := s.copyACLToFolder(share, guid); err != nil {
			return err
		}
	}
	if plan.WriteRegistryPol || plan.WriteVersion {
		for _, sub := range []string{dir + `\Machine`, dir + `\User`} {
			if err := share.MkdirAll(sub, 0o755); err != nil {
				return s.smbFail(op, sysvolRight, err)
			}
		}
	}
	if plan.WriteRegistryPol {
		if err := share.WriteFile(dir+`\Machine\Registry.pol`, registryPol, 0o644); err != nil {
			return s.smbFail(op, sysvolRight, err)
		}
	}
	if plan.WriteVersion {
		if err := share.WriteFile(dir+`\GPT.INI`, grouppolicy.FormatGPTINI(plan.Version), 0o644); err != nil {
			return s.smbFail(op, sysvolRight, err)
		}
	}
	if len(plan.Attributes) == 0 && !plan.WriteVersion {
		return nil
	}
	mod := ldap.NewModifyRequest(s.gpoDN(guid), nil)
	names := make([]string, 0, len(plan.Attributes))
	for k := range plan.Attributes {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		mod.Replace(k, []string{plan.Attributes[k]})
	}
	if plan.WriteVersion {
		mod.Replace("versionNumber", []string{strconv.FormatUint(uint64(plan.Version), 10)}) // last
	}
	if err := s.conn.Modify(mod); err != nil {
		return s.ldapFail(op, "write on its own Group Policy object "+s.gpoDN(guid), err)
	}
	return nil
}

// sdFlagsOwnerGroupDACL is the LDAP_SERVER_SD_FLAGS control asking for owner, group and DACL
// only (the SACL needs a right the publishing account does not have): BER SEQUENCE { INTEGER 7 }.
var sdFlagsOwnerGroupDACL = ldap.NewControlString("1.2.840.113556.1.4.801", true, "\x30\x03\x02\x01\x07")

// copyACLToFolder sets the template folder's DACL from the container's security descriptor.
// Owner and group are left as SMB set them: the account created both halves, so both have it as
// owner, and changing them would need take-ownership, a right the account does not hold (as
// owner it may read and write the DACLs).
func (s *gpoSession) copyACLToFolder(share *smb2.Share, guid string) error {
	const op = "publishGroupPolicy"
	res, err := s.conn.Search(ldap.NewSearchRequest(s.gpoDN(guid), ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false,
		"(objectClass=*)", []string{"nTSecurityDescriptor"}, []ldap.Control{sdFlagsOwnerGroupDACL}))
	if err != nil || len(res.Entries) != 1 {
		return s.ldapFail(op, "read control on its own Group Policy object "+s.gpoDN(guid), errors.Join(err, errors.New("no security descriptor returned")))
	}
	ds := res.Entries[0].GetRawAttributeValue("nTSecurityDescriptor")
	fsd, err := grouppolicy.FolderSecurityDescriptor(ds)
	if err != nil {
		return s.d.fail(op, directory.ErrBadData, fmt.Errorf("security descriptor of %s: %w", s.gpoDN(guid), err))
	}
	if err := share.SetSecurityInfoRaw(s.templateDir(guid), smb2.DACLSecurityInformation, rawSD(fsd)); err != nil {
		return s.smbFail(op, `write DACL on its own folder in the SYSVOL Policies folder \\`+s.realm+`\sysvol\`+s.realm+`\Policies`, err)
	}
	return nil
}

// rawSD hands a binary security descriptor to go-smb2 as it is.
type rawSD []byte

func (r rawSD) Size() int          { return len(r) }
func (r rawSD) Encode(dest []byte) { copy(dest, r) }

// syncLinks makes the object linked exactly at links: each target gets one enabled entry with
// the declared enforcement, and entries on other containers inside the search bases are removed.
// Each change replaces one gPLink value with a delete-old/add-new pair, so a concurrent edit of
// the same attribute fails instead of being overwritten; other objects' entries are kept byte
// for byte.
func (s *gpoSession) syncLinks(guid string, links []directory.GroupPolicyLink) ([]string, error) {
	gpoDN := s.gpoDN(guid)
	var diffs []string
	for _, l := range links {
		res, err := s.conn.Search(ldap.NewSearchRequest(l.Target, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false,
			"(objectClass=*)", []string{"gPLink"}, nil))
		if err != nil {
			if ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
				return diffs, s.d.fail("publishGroupPolicy", directory.ErrNotFound, fmt.Errorf("link target %q does not exist", l.Target))
			}
			return diffs, s.d.failClassified("publishGroupPolicy", err)
		}
		old := res.Entries[0].GetAttributeValue("gPLink")
		next, changed := grouppolicy.WithLink(old, gpoDN, l.Enforced)
		if !changed {
			continue
		}
		st := grouppolicy.FindLink(old, gpoDN)
		switch {
		case !st.Linked:
			diffs = append(diffs, fmt.Sprintf("link on %s is missing", l.Target))
		case st.Disabled:
			diffs = append(diffs, fmt.Sprintf("link on %s is disabled", l.Target))
		default:
			diffs = append(diffs, fmt.Sprintf("link on %s has enforced=%v, want %v", l.Target, st.Enforced, l.Enforced))
		}
		if err := s.replaceGPLink(l.Target, old, next); err != nil {
			return diffs, err
		}
	}
	stale, err := s.linkedContainers(guid)
	if err != nil {
		return diffs, err
	}
	for _, e := range stale {
		if containsDN(links, e.DN) {
			continue
		}
		old := e.GetAttributeValue("gPLink")
		next, changed := grouppolicy.WithoutLink(old, gpoDN)
		if !changed {
			continue
		}
		diffs = append(diffs, fmt.Sprintf("link on %s is not declared", e.DN))
		if err := s.replaceGPLink(e.DN, old, next); err != nil {
			return diffs, err
		}
	}
	return diffs, nil
}

func containsDN(links []directory.GroupPolicyLink, target string) bool {
	for _, l := range links {
		if dn.Equal(l.Target, target) {
			return true
		}
	}
	return false
}

// linkedContainers are the containers inside the search bases whose gPLink names guid.
func (s *gpoSession) linkedContainers(guid string) ([]*ldap.Entry, error) {
	var out []*ldap.Entry
	seen := map[string]bool{}
	for _, base := range s.bases {
		res, err := s.conn.Search(ldap.NewSearchRequest(base, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
			"(gPLink=*"+ldap.EscapeFilter(guid)+"*)", []string{"gPLink"}, nil))
		if err != nil {
			return nil, s.d.failClassified("publishGroupPolicy", err)
		}
		for _, e := range res.Entries {
			if k := strings.ToLower(e.DN); !seen[k] {
				seen[k] = true
				out = append(out, e)
			}
		}
	}
	return out, nil
}

func (s *gpoSession) replaceGPLink(target, old, next string) error {
	mod := ldap.NewModifyRequest(target, nil)
	if old != "" {
		mod.Delete("gPLink", []string{old})
	}
	if next != "" {
		mod.Add("gPLink", []string{next})
	}
	if err := s.conn.Modify(mod); err != nil {
		return s.ldapFail("publishGroupPolicy", "write gPLink on "+target, err)
	}
	return nil
}

// WithdrawGroupPolicy implements directory.GroupPolicyPublisher: links first (clients stop
// applying the object), then the template, then the container, so a withdrawal cut short is
// found again by its mark and finished.
func (d *Directory) WithdrawGroupPolicy(ctx context.Context, owner string) error {
	const op = "withdrawGroupPolicy"
	s, err := d.openGPOSession(ctx, op)
	if err != nil {
		return err
	}
	defer s.close()
	e, err := s.findOwned(owner)
	if err != nil {
		return d.failClassified(op, err)
	}
	if e == nil {
		return nil
	}
	guid := strings.ToUpper(e.GetAttributeValue("cn"))
	if _, err := s.syncLinks(guid, nil); err != nil {
		return err
	}
	share, err := s.mountSysvol(ctx)
	if err != nil {
		return err
	}
	if err := share.RemoveAll(s.templateDir(guid)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return s.smbFail(op, `delete on the SYSVOL Policies folder \\`+s.realm+`\sysvol\`+s.realm+`\Policies`, err)
	}
	res, err := s.conn.Search(ldap.NewSearchRequest(s.gpoDN(guid), ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		"(objectClass=*)", []string{"cn"}, nil))
	if err != nil {
		return d.failClassified(op, err)
	}
	// Deepest first: children before their parent.
	sort.Slice(res.Entries, func(i, j int) bool { return len(res.Entries[i].DN) > len(res.Entries[j].DN) })
	for _, c := range res.Entries {
		if err := s.conn.Del(ldap.NewDelRequest(c.DN, nil)); err != nil && !ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
			return s.ldapFail(op, "delete on its own Group Policy object "+c.DN, err)
		}
	}
	d.log.Info("deleted Group Policy object", "directory", d.cfg.Name, "gpo", guid, "owner", owner)
	return nil
}

// newGUID is a random (version 4) GUID in the {UPPER-CASE} form of Group Policy object names.
func newGUID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return strings.ToUpper(fmt.Sprintf("{%x-%x-%x-%x-%x}", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])), nil
}
