package ldapserver

import "strings"

// LAPS attribute names. The password-carrying ones are named here only as (a) data the
// simulated devices write through the device identity and (b) the server's confidential list,
// which the server uses to WITHHOLD them from the controller's bind account. The controller
// never asks for them.
const (
	AttrPasswordExpirationTime = "msLAPS-PasswordExpirationTime"
	AttrCurrentPasswordVersion = "msLAPS-CurrentPasswordVersion"
	AttrLegacyExpirationTime   = "ms-Mcs-AdmPwdExpirationTime"

	// Confidential (searchFlags 904): never returned to the controller.
	AttrPassword                     = "msLAPS-Password"
	AttrEncryptedPassword            = "msLAPS-EncryptedPassword"
	AttrEncryptedPasswordHistory     = "msLAPS-EncryptedPasswordHistory"
	AttrEncryptedDSRMPassword        = "msLAPS-EncryptedDSRMPassword"
	AttrEncryptedDSRMPasswordHistory = "msLAPS-EncryptedDSRMPasswordHistory"
	AttrLegacyPassword               = "ms-Mcs-AdmPwd"
)

// Syntaxes (attributeSyntax OIDs) the server validates on write.
const (
	syntaxString       = "2.5.5.12" // Unicode string
	syntaxDN           = "2.5.5.1"
	syntaxOID          = "2.5.5.2"
	syntaxOctets       = "2.5.5.10"
	syntaxInteger      = "2.5.5.9"
	syntaxLargeInteger = "2.5.5.16"
	syntaxTime         = "2.5.5.11" // GeneralizedTime
	syntaxSID          = "2.5.5.17"
)

// attrDef is one attributeSchema object.
type attrDef struct {
	Name   string
	OID    string
	Syntax string
	Single bool
	LAPS   bool // part of the LAPS schema extension (hidden when Config.OmitLAPSSchema)
	Secret bool // confidential: withheld from the controller
	System bool // system-only: nobody may write it over LDAP
	IntID  int32
	Flags  int // searchFlags
	// Internal attributes are returned only when asked for by name, never for "*".
	Internal bool
	id       uint32 // replication attid, set at init
}

// schemaAttrs is the schema the embedded directory knows. Attribute names outside it are
// refused on write (undefinedAttributeType), as AD does.
var schemaAttrs = []attrDef{
	{Name: "objectClass", OID: "2.5.4.0", Syntax: syntaxOID},
	{Name: "cn", OID: "2.5.4.3", Syntax: syntaxString, Single: true},
	{Name: "ou", OID: "2.5.4.11", Syntax: syntaxString},
	{Name: "dc", OID: "0.9.2342.19200300.100.1.25", Syntax: syntaxString, Single: true},
	{Name: "name", OID: "1.2.840.113556.1.4.1", Syntax: syntaxString, Single: true, System: true},
	{Name: "distinguishedName", OID: "2.5.4.49", Syntax: syntaxDN, Single: true, System: true},
	{Name: "objectGUID", OID: "1.2.840.113556.1.4.2", Syntax: syntaxOctets, Single: true, System: true},
	{Name: "objectSid", OID: "1.2.840.113556.1.4.146", Syntax: syntaxSID, Single: true, System: true},
	{Name: "objectCategory", OID: "1.2.840.113556.1.4.782", Syntax: syntaxDN, Single: true, System: true},
	{Name: "sAMAccountName", OID: "1.2.840.113556.1.4.221", Syntax: syntaxString, Single: true},
	{Name: "userPrincipalName", OID: "1.2.840.113556.1.4.656", Syntax: syntaxString, Single: true},
	{Name: "dNSHostName", OID: "1.2.840.113556.1.4.619", Syntax: syntaxString, Single: true},
	{Name: "description", OID: "2.5.4.13", Syntax: syntaxString},
	{Name: "userAccountControl", OID: "1.2.840.113556.1.4.8", Syntax: syntaxInteger, Single: true},
	{Name: "operatingSystem", OID: "1.2.840.113556.1.4.363", Syntax: syntaxString, Single: true},
	{Name: "operatingSystemVersion", OID: "1.2.840.113556.1.4.365", Syntax: syntaxString, Single: true},
	{Name: "uSNCreated", OID: "1.2.840.113556.1.2.19", Syntax: syntaxLargeInteger, Single: true, System: true},
	{Name: "uSNChanged", OID: "1.2.840.113556.1.2.120", Syntax: syntaxLargeInteger, Single: true, System: true},
	{Name: "whenCreated", OID: "1.2.840.113556.1.2.2", Syntax: syntaxTime, Single: true, System: true},
	{Name: "whenChanged", OID: "1.2.840.113556.1.2.3", Syntax: syntaxTime, Single: true, System: true},
	{Name: "member", OID: "2.5.4.31", Syntax: syntaxDN},
	{Name: "nCName", OID: "1.2.840.113556.1.4.16", Syntax: syntaxDN, Single: true, System: true},
	{Name: "nETBIOSName", OID: "1.2.840.113556.1.2.87", Syntax: syntaxString, Single: true, System: true},
	{Name: "dnsRoot", OID: "1.2.840.113556.1.4.28", Syntax: syntaxString, System: true},
	{Name: "invocationId", OID: "1.2.840.113556.1.2.115", Syntax: syntaxOctets, Single: true, System: true},
	{Name: "lDAPDisplayName", OID: "1.2.840.113556.1.2.460", Syntax: syntaxString, Single: true, System: true},
	{Name: "attributeID", OID: "1.2.840.113556.1.2.30", Syntax: syntaxOID, Single: true, System: true},
	{Name: "attributeSyntax", OID: "1.2.840.113556.1.2.32", Syntax: syntaxOID, Single: true, System: true},
	{Name: "isSingleValued", OID: "1.2.840.113556.1.2.33", Syntax: syntaxString, Single: true, System: true},
	{Name: "searchFlags", OID: "1.2.840.113556.1.2.334", Syntax: syntaxInteger, Single: true, System: true},
	{Name: "msDS-IntId", OID: "1.2.840.113556.1.4.1716", Syntax: syntaxInteger, Single: true, System: true},
	{Name: "attributeTypes", OID: "2.5.21.5", Syntax: syntaxString, System: true},
	{Name: "objectClasses", OID: "2.5.21.6", Syntax: syntaxString, System: true},
	{Name: "replPropertyMetaData", OID: "1.2.840.113556.1.4.3", Syntax: syntaxOctets, Single: true, System: true, Internal: true},

	// The LAPS schema extension (LAPS-REFERENCE.md §1). msDS-IntId values are what this server
	// assigns (AD assigns them per forest); the replication metadata uses them as attids.
	{Name: AttrPasswordExpirationTime, OID: "1.2.840.113556.1.6.44.1.1", Syntax: syntaxLargeInteger, Single: true, LAPS: true, IntID: -1719533567, Flags: 0},
	{Name: AttrPassword, OID: "1.2.840.113556.1.6.44.1.2", Syntax: syntaxString, Single: true, LAPS: true, Secret: true, IntID: -1719533566, Flags: 904},
	{Name: AttrEncryptedPassword, OID: "1.2.840.113556.1.6.44.1.3", Syntax: syntaxOctets, Single: true, LAPS: true, Secret: true, IntID: -1719533565, Flags: 904},
	{Name: AttrEncryptedPasswordHistory, OID: "1.2.840.113556.1.6.44.1.4", Syntax: syntaxOctets, LAPS: true, Secret: true, IntID: -1719533564, Flags: 904},
	{Name: AttrEncryptedDSRMPassword, OID: "1.2.840.113556.1.6.44.1.5", Syntax: syntaxOctets, Single: true, LAPS: true, Secret: true, IntID: -1719533563, Flags: 904},
	{Name: AttrEncryptedDSRMPasswordHistory, OID: "1.2.840.113556.1.6.44.1.6", Syntax: syntaxOctets, LAPS: true, Secret: true, IntID: -1719533562, Flags: 904},
	{Name: AttrCurrentPasswordVersion, OID: "1.2.840.113556.1.6.44.1.7", Syntax: syntaxOctets, Single: true, LAPS: true, IntID: -1719533561, Flags: 0},
	{Name: AttrLegacyPassword, OID: "1.2.840.113556.1.8000.2554.50051.45980.28112.18903.35903.6685103.1224907.2.1", Syntax: syntaxString, Single: true, LAPS: true, Secret: true, IntID: -1719533560, Flags: 904},
	{Name: AttrLegacyExpirationTime, OID: "1.2.840.113556.1.8000.2554.50051.45980.28112.18903.35903.6685103.1224907.2.2", Syntax: syntaxLargeInteger, Single: true, LAPS: true, IntID: -1719533559, Flags: 0},
}

var schemaByName = func() map[string]*attrDef {
	m := make(map[string]*attrDef, len(schemaAttrs))
	for i := range schemaAttrs {
		d := &schemaAttrs[i]
		// The replication attid is msDS-IntId where set, otherwise a stable id derived from
		// the definition's position.
		d.id = 0x00090000 + uint32(i)
		if d.IntID != 0 {
			d.id = uint32(d.IntID)
		}
		m[strings.ToLower(d.Name)] = d
	}
	return m
}()

// lookupAttr finds an attribute definition by name (case-insensitive).
func lookupAttr(name string) *attrDef { return schemaByName[strings.ToLower(name)] }

// attid is the replication attribute id of a definition.
func (d *attrDef) attid() uint32 { return d.id }

// IsConfidential reports whether name is one of the confidential LAPS attributes.
func IsConfidential(name string) bool {
	d := lookupAttr(name)
	return d != nil && d.Secret
}

// controllerWritable are the only attributes the controller's account may write: the outer
// permission ring ("reset" of the expiration time).
var controllerWritable = map[string]bool{
	strings.ToLower(AttrPasswordExpirationTime): true,
	strings.ToLower(AttrLegacyExpirationTime):   true,
}
