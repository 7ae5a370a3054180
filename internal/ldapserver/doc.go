// Package ldapserver is the embedded AD-like directory of the demo and the end-to-end tests: a
// real LDAP server (github.com/jimlambrt/gldap) on 127.0.0.1 with LDAPS and StartTLS under a CA
// generated at start, holding a domain with computer objects in Active Directory's syntaxes
// (FILETIME decimal strings, 16-byte GUIDs in .NET byte order, binary SIDs) and the Windows LAPS
// and legacy LAPS attributes.
//
// The manager talks to it through the AD backend exactly as to a domain controller, so it
// answers what that backend asks: the rootDSE (naming contexts, dsServiceName,
// highestCommittedUSN, supportedControl), the NTDS Settings invocationId, attributeSchema
// objects and the subschema entry, the crossRef with the NetBIOS name, users and groups for
// principal resolution, replPropertyMetaData, paged subtree searches capped at MaxPageSize,
// uSNChanged filters, and modify with access control in three roles:
//
//   - the controller (outer LAPS permission ring) never sees the confidential attributes
//     (silently omitted, as AD's confidential flag does; a filter on them is Undefined) and may
//     write only the expiration-time attributes (insufficientAccessRights otherwise);
//   - the device writer (the simulated devices' SELF right) reads and writes every LAPS
//     attribute;
//   - the admin reads everything.
//
// The simulated fleet writes through Store.Modify in process (the "device channel"); the
// controller side is always real LDAP.
package ldapserver
