package v1

// EffectivePolicyRoot is spec.policyRoot, or when it is unset the root that matches the backup
// directory: GroupPolicy for ActiveDirectory (domain-joined devices read Group Policy), CSP for
// EntraID and Disabled. The CRD's CEL rules spell the same derivation; there is no schema
// default, so a manifest never carries a root its author did not choose.
func (s *LapsPolicySpec) EffectivePolicyRoot() PolicyRoot {
	switch {
	case s.PolicyRoot != "":
		return s.PolicyRoot
	case s.BackupDirectory == BackupDirectoryActiveDirectory:
		return PolicyRootGroupPolicy
	default:
		return PolicyRootCSP
	}
}

// PublishesGroupPolicy says whether the policy is delivered as a Group Policy object: it has a
// groupPolicy section (admission allows one only for the GroupPolicy and LegacyLAPS roots).
func (s *LapsPolicySpec) PublishesGroupPolicy() bool { return s.GroupPolicy != nil }
