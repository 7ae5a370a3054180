package v1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// BackupDirectory is where devices back up the managed password (Windows LAPS policy setting
// BackupDirectory).
// +kubebuilder:validation:Enum=Disabled;EntraID;ActiveDirectory
type BackupDirectory string

const (
	BackupDirectoryDisabled        BackupDirectory = "Disabled"
	BackupDirectoryEntraID         BackupDirectory = "EntraID"
	BackupDirectoryActiveDirectory BackupDirectory = "ActiveDirectory"
)

// PolicyRoot is the registry root through which a device receives the policy. Windows reads
// the roots in the order CSP, GroupPolicy, LocalConfiguration, LegacyLAPS and uses the first
// one that holds any setting; settings are never merged across roots.
// +kubebuilder:validation:Enum=CSP;GroupPolicy;LocalConfiguration;LegacyLAPS
type PolicyRoot string

const (
	PolicyRootCSP                PolicyRoot = "CSP"
	PolicyRootGroupPolicy        PolicyRoot = "GroupPolicy"
	PolicyRootLocalConfiguration PolicyRoot = "LocalConfiguration"
	PolicyRootLegacyLAPS         PolicyRoot = "LegacyLAPS"
)

// PasswordComplexity is the Windows LAPS PasswordComplexity setting, values 1..8 in order.
// +kubebuilder:validation:Enum=LargeLetters;LargeAndSmallLetters;LargeAndSmallLettersAndNumbers;LargeAndSmallLettersNumbersAndSpecials;LargeAndSmallLettersNumbersAndSpecialsImprovedReadability;PassphraseLongWords;PassphraseShortWords;PassphraseShortWordsWithUniquePrefix
type PasswordComplexity string

const (
	ComplexityLargeLetters                                              PasswordComplexity = "LargeLetters"
	ComplexityLargeAndSmallLetters                                      PasswordComplexity = "LargeAndSmallLetters"
	ComplexityLargeAndSmallLettersAndNumbers                            PasswordComplexity = "LargeAndSmallLettersAndNumbers"
	ComplexityLargeAndSmallLettersNumbersAndSpecials                    PasswordComplexity = "LargeAndSmallLettersNumbersAndSpecials"
	ComplexityLargeAndSmallLettersNumbersAndSpecialsImprovedReadability PasswordComplexity = "LargeAndSmallLettersNumbersAndSpecialsImprovedReadability"
	ComplexityPassphraseLongWords                                       PasswordComplexity = "PassphraseLongWords"
	ComplexityPassphraseShortWords                                      PasswordComplexity = "PassphraseShortWords"
	ComplexityPassphraseShortWordsWithUniquePrefix                      PasswordComplexity = "PassphraseShortWordsWithUniquePrefix"
)

// PostAuthenticationActions is the Windows LAPS PostAuthenticationActions setting (1, 3, 5, 11).
// +kubebuilder:validation:Enum=ResetPassword;ResetPasswordAndLogoff;ResetPasswordAndReboot;ResetPasswordAndTerminateProcesses
type PostAuthenticationActions string

const (
	PostAuthResetPassword                      PostAuthenticationActions = "ResetPassword"
	PostAuthResetPasswordAndLogoff             PostAuthenticationActions = "ResetPasswordAndLogoff"
	PostAuthResetPasswordAndReboot             PostAuthenticationActions = "ResetPasswordAndReboot"
	PostAuthResetPasswordAndTerminateProcesses PostAuthenticationActions = "ResetPasswordAndTerminateProcesses"
)

// AutomaticAccountManagementTarget is the Windows LAPS AutomaticAccountManagementTarget setting
// (0, 1).
// +kubebuilder:validation:Enum=BuiltinAdministrator;NewCustomAdministrator
type AutomaticAccountManagementTarget string

const (
	AccountTargetBuiltinAdministrator   AutomaticAccountManagementTarget = "BuiltinAdministrator"
	AccountTargetNewCustomAdministrator AutomaticAccountManagementTarget = "NewCustomAdministrator"
)

// DayOfWeek names a day for maintenance windows.
// +kubebuilder:validation:Enum=Monday;Tuesday;Wednesday;Thursday;Friday;Saturday;Sunday
type DayOfWeek string

// LapsPolicySpec is the Windows LAPS policy for the ManagedDevices it selects. Every setting is
// a Windows LAPS policy setting, with its range and default; enums are readable names that map 1:1 to the Windows
// values. Admission rejects what Windows would silently replace by a default.
//
// +kubebuilder:validation:XValidation:rule="self.backupDirectory != 'EntraID' || !has(self.passwordAgeDays) || self.passwordAgeDays >= 7",message="passwordAgeDays must be between 7 and 365 when backupDirectory is EntraID (Windows LAPS: the Entra ID minimum is 7 days)"
// +kubebuilder:validation:XValidation:rule="self.backupDirectory != 'EntraID' || !has(self.adPasswordEncryptionEnabled) || !self.adPasswordEncryptionEnabled",message="adPasswordEncryptionEnabled applies only to backupDirectory ActiveDirectory; with EntraID it must be unset or false"
// +kubebuilder:validation:XValidation:rule="self.backupDirectory != 'EntraID' || !has(self.adPasswordEncryptionPrincipal)",message="adPasswordEncryptionPrincipal applies only to backupDirectory ActiveDirectory; with EntraID it must be unset"
// +kubebuilder:validation:XValidation:rule="self.backupDirectory != 'EntraID' || !has(self.adEncryptedPasswordHistorySize) || self.adEncryptedPasswordHistorySize == 0",message="adEncryptedPasswordHistorySize applies only to backupDirectory ActiveDirectory; with EntraID it must be unset or 0"
// +kubebuilder:validation:XValidation:rule="self.backupDirectory != 'EntraID' || !has(self.adBackupDSRMPassword) || !self.adBackupDSRMPassword",message="adBackupDSRMPassword applies only to backupDirectory ActiveDirectory; with EntraID it must be unset or false"
// +kubebuilder:validation:XValidation:rule="!has(self.adEncryptedPasswordHistorySize) || self.adEncryptedPasswordHistorySize == 0 || !has(self.adPasswordEncryptionEnabled) || self.adPasswordEncryptionEnabled",message="adEncryptedPasswordHistorySize greater than 0 requires adPasswordEncryptionEnabled true (or unset, which means true) on backupDirectory ActiveDirectory; Windows LAPS ignores history without encryption"
// +kubebuilder:validation:XValidation:rule="!has(self.adBackupDSRMPassword) || !self.adBackupDSRMPassword || !has(self.adPasswordEncryptionEnabled) || self.adPasswordEncryptionEnabled",message="adBackupDSRMPassword true requires adPasswordEncryptionEnabled true (or unset, which means true) on backupDirectory ActiveDirectory; Windows LAPS ignores DSRM backup without encryption"
// +kubebuilder:validation:XValidation:rule="!has(self.policyRoot) || self.policyRoot != 'LegacyLAPS' || self.backupDirectory != 'EntraID'",message="policyRoot LegacyLAPS backs up to Active Directory only; use backupDirectory ActiveDirectory or Disabled"
// +kubebuilder:validation:XValidation:rule="!has(self.policyRoot) || self.policyRoot != 'LegacyLAPS' || !has(self.passwordComplexity) || self.passwordComplexity in ['LargeLetters', 'LargeAndSmallLetters', 'LargeAndSmallLettersAndNumbers', 'LargeAndSmallLettersNumbersAndSpecials']",message="passwordComplexity with policyRoot LegacyLAPS must be one of LargeLetters, LargeAndSmallLetters, LargeAndSmallLettersAndNumbers, LargeAndSmallLettersNumbersAndSpecials (legacy LAPS knows values 1..4)"
// +kubebuilder:validation:XValidation:rule="(has(self.policyRoot) ? self.policyRoot != 'CSP' : self.backupDirectory == 'ActiveDirectory') || !has(self.adBackupDSRMPassword) || !self.adBackupDSRMPassword",message="adBackupDSRMPassword cannot be delivered through policyRoot CSP (the LAPS CSP does not support it; domain controllers are never managed via CSP); use GroupPolicy or LocalConfiguration"
// +kubebuilder:validation:XValidation:rule="!has(self.entra) || self.backupDirectory == 'EntraID'",message="entra applies only to backupDirectory EntraID (the policy is published to Intune)"
// +kubebuilder:validation:XValidation:rule="!has(self.groupPolicy) || (self.backupDirectory != 'EntraID' && (has(self.policyRoot) ? self.policyRoot in ['GroupPolicy', 'LegacyLAPS'] : self.backupDirectory == 'ActiveDirectory'))",message="groupPolicy applies only to policyRoot GroupPolicy or LegacyLAPS (an unset policyRoot means GroupPolicy with backupDirectory ActiveDirectory) and not to backupDirectory EntraID"
type LapsPolicySpec struct {
	// BackupDirectory: where devices back up the password. Disabled turns Windows LAPS off and
	// makes Windows ignore every other setting.
	BackupDirectory BackupDirectory `json:"backupDirectory"`

	// DirectoryRef names the configured directory connection this policy is pushed to and read
	// from.
	DirectoryRef DirectoryReference `json:"directoryRef"`

	// PolicyRoot: how devices receive the policy. Windows reads the roots in the order CSP,
	// GroupPolicy, LocalConfiguration, LegacyLAPS and uses the first that holds any setting,
	// which decides which policy is effective on a device. Unset means the root that matches
	// backupDirectory: GroupPolicy for ActiveDirectory (a domain-joined device reads Group
	// Policy), CSP otherwise (EntraID and Disabled).
	// +optional
	PolicyRoot PolicyRoot `json:"policyRoot,omitempty"`

	// GroupPolicy publishes the policy as a Group Policy object in the Active Directory domain of
	// directoryRef and links it to organizational units or the domain. Only for policyRoot
	// GroupPolicy and LegacyLAPS; without it an Active Directory policy's rendered files are kept
	// in a ConfigMap for an administrator to import.
	// +optional
	GroupPolicy *GroupPolicySettings `json:"groupPolicy,omitempty"`

	// Entra configures the Intune configuration policy an EntraID policy is published as. Only
	// for backupDirectory EntraID.
	// +optional
	Entra *EntraPolicySettings `json:"entra,omitempty"`

	// Priority breaks ties between policies of the same root that select the same device: the
	// higher priority wins, then the lexically smaller name.
	// +kubebuilder:default=0
	// +optional
	Priority int32 `json:"priority,omitempty"`

	// DeviceSelector selects ManagedDevices in this namespace; empty selects all of them.
	// +optional
	DeviceSelector *metav1.LabelSelector `json:"deviceSelector,omitempty"`

	// AdministratorAccountName is the managed local account; unset manages the built-in
	// administrator (found by its RID). Ignored when automatic account management is enabled.
	// Characters Windows refuses in account names (" / \ [ ] : ; | = , + * ? < > @) and control
	// characters are rejected; other names Windows cannot create (too long, only periods or
	// spaces) are reported in status.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	// +kubebuilder:validation:XValidation:rule=`self.matches(r'^[^"/\\\[\]:;|=,+*?<>@\x00-\x1f\x7f-\x9f\x{fffe}\x{ffff}]*$')`,message="administratorAccountName must be a Windows account name: letters, digits, spaces and punctuation except \" / \\ [ ] : ; | = , + * ? < > @, and no control characters"
	// +optional
	AdministratorAccountName *string `json:"administratorAccountName,omitempty"`

	// PasswordAgeDays is the maximum password age: 1..365 (7..365 for EntraID), default 30.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=365
	// +kubebuilder:default=30
	// +optional
	PasswordAgeDays *int32 `json:"passwordAgeDays,omitempty"`

	// PasswordLength: 8..64 characters, default 14. Ignored with a passphrase complexity.
	// +kubebuilder:validation:Minimum=8
	// +kubebuilder:validation:Maximum=64
	// +kubebuilder:default=14
	// +optional
	PasswordLength *int32 `json:"passwordLength,omitempty"`

	// PassphraseLength: 3..10 words, default 6. Ignored unless passwordComplexity is a passphrase.
	// +kubebuilder:validation:Minimum=3
	// +kubebuilder:validation:Maximum=10
	// +kubebuilder:default=6
	// +optional
	PassphraseLength *int32 `json:"passphraseLength,omitempty"`

	// PasswordComplexity, default LargeAndSmallLettersNumbersAndSpecials (4).
	// +kubebuilder:default=LargeAndSmallLettersNumbersAndSpecials
	// +optional
	PasswordComplexity *PasswordComplexity `json:"passwordComplexity,omitempty"`

	// PasswordExpirationProtectionEnabled enforces the maximum password age (ActiveDirectory
	// only). Unset means the Windows LAPS default, true (false for legacy LAPS).
	// +optional
	PasswordExpirationProtectionEnabled *bool `json:"passwordExpirationProtectionEnabled,omitempty"`

	// ADPasswordEncryptionEnabled encrypts the password in AD (ActiveDirectory only; needs domain
	// functional level 2016). Unset means the Windows LAPS default, true.
	// +optional
	ADPasswordEncryptionEnabled *bool `json:"adPasswordEncryptionEnabled,omitempty"`

	// ADPasswordEncryptionPrincipal is the user or group allowed to decrypt (ActiveDirectory
	// only): a SID (S-1-5-21-...), DOMAIN\name or name@domain.tld, e.g. CORP\Domain Admins.
	// Names follow Active Directory's rules: spaces inside are allowed; / \ [ ] : ; | = , + * ? < >,
	// quotes and control characters are not, nor a leading or trailing space or a trailing
	// period. Unset means Domain Admins.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:XValidation:rule=`self.matches(r'^S-1-[0-9]+(-[0-9]+)+$') || self.matches(r'^[^\\/:*?"<>|@\x00-\x1f\x7f .](?:[^\\/:*?"<>|@\x00-\x1f\x7f]*[^\\/:*?"<>|@\x00-\x1f\x7f ])?\\(?:[^"/\\\[\]:;|=,+*?<>\x00-\x1f\x7f ][^"/\\\[\]:;|=,+*?<>\x00-\x1f\x7f]*)?[^"/\\\[\]:;|=,+*?<>\x00-\x1f\x7f .]$') || self.matches(r'^(?:[^"/\\\[\]:;|=,+*?<>@\x00-\x1f\x7f ][^"/\\\[\]:;|=,+*?<>@\x00-\x1f\x7f]*)?[^"/\\\[\]:;|=,+*?<>@\x00-\x1f\x7f .]@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$')`,message="adPasswordEncryptionPrincipal must be a SID (S-1-5-21-...), DOMAIN\\name or name@domain.tld, entered as-is without quotes; a name may contain spaces but not / \\ [ ] : ; | = , + * ? < > quotes or control characters, and may not start or end with a space or end with a period"
	// +optional
	ADPasswordEncryptionPrincipal *string `json:"adPasswordEncryptionPrincipal,omitempty"`

	// ADEncryptedPasswordHistorySize: 0..12 previous encrypted passwords kept (ActiveDirectory
	// only, needs encryption). Unset means 0.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=12
	// +optional
	ADEncryptedPasswordHistorySize *int32 `json:"adEncryptedPasswordHistorySize,omitempty"`

	// ADBackupDSRMPassword backs up the DSRM password on domain controllers (ActiveDirectory only,
	// needs encryption). Unset means false.
	// +optional
	ADBackupDSRMPassword *bool `json:"adBackupDSRMPassword,omitempty"`

	// PostAuthenticationResetDelay: 0..24 hours after a sign-in with the managed account before
	// the post-authentication actions run; 0 disables them. Default 24.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=24
	// +kubebuilder:default=24
	// +optional
	PostAuthenticationResetDelay *int32 `json:"postAuthenticationResetDelay,omitempty"`

	// PostAuthenticationActions, default ResetPasswordAndLogoff (3).
	// ResetPasswordAndTerminateProcesses (11) needs Windows 11 24H2 / Server 2025.
	// +kubebuilder:default=ResetPasswordAndLogoff
	// +optional
	PostAuthenticationActions *PostAuthenticationActions `json:"postAuthenticationActions,omitempty"`

	// AutomaticAccountManagement lets Windows create and manage the account itself.
	// +optional
	AutomaticAccountManagement *AutomaticAccountManagement `json:"automaticAccountManagement,omitempty"`

	// Rotation shapes the rotations that the controller itself starts (RotationRequests,
	// annotations). It is not sent to devices.
	// +optional
	Rotation *RotationSettings `json:"rotation,omitempty"`
}

// AutomaticAccountManagement is the Windows LAPS AutomaticAccountManagement* settings group.
type AutomaticAccountManagement struct {
	// Enabled turns automatic account management on (default false).
	// +optional
	Enabled *bool `json:"enabled,omitempty"`
	// Target: the built-in Administrator or a new custom account (default NewCustomAdministrator).
	// +optional
	Target *AutomaticAccountManagementTarget `json:"target,omitempty"`
	// NameOrPrefix of the managed account (default WLapsAdmin). With randomizeName, names longer
	// than 14 characters are truncated by Windows (reported in status). Characters Windows
	// refuses in account names (" / \ [ ] : ; | = , + * ? < > @) and control characters are
	// rejected.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	// +kubebuilder:validation:XValidation:rule=`self.matches(r'^[^"/\\\[\]:;|=,+*?<>@\x00-\x1f\x7f-\x9f\x{fffe}\x{ffff}]*$')`,message="nameOrPrefix must be a Windows account name: letters, digits, spaces and punctuation except \" / \\ [ ] : ; | = , + * ? < > @, and no control characters"
	// +optional
	NameOrPrefix *string `json:"nameOrPrefix,omitempty"`
	// EnableAccount enables the managed account (default false).
	// +optional
	EnableAccount *bool `json:"enableAccount,omitempty"`
	// RandomizeName appends a random six-digit suffix at every rotation (default false).
	// +optional
	RandomizeName *bool `json:"randomizeName,omitempty"`
}

// GroupPolicySettings says how the policy's Group Policy object is named and where it is linked.
type GroupPolicySettings struct {
	// DisplayName of the Group Policy object as Group Policy Management shows it. Unset means
	// "fleetlaps <namespace>/<name>".
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=200
	// +kubebuilder:validation:XValidation:rule=`!self.matches(r'[\x00-\x1f\x7f]')`,message="groupPolicy.displayName must not contain control characters"
	// +optional
	DisplayName string `json:"displayName,omitempty"`
	// Links are the organizational units or domain the Group Policy object is linked to. Each
	// target must lie inside the search bases of the directory connection. Links of other Group
	// Policy objects on the same targets are left as they are. Empty: the object exists unlinked.
	// +kubebuilder:validation:MaxItems=64
	// +listType=map
	// +listMapKey=target
	// +optional
	Links []GroupPolicyLink `json:"links,omitempty"`
}

// EntraPolicySettings say which devices the Intune configuration policy reaches.
type EntraPolicySettings struct {
	// AssignToGroupIDs are the object ids (GUIDs) of the Entra groups the Intune configuration
	// policy is assigned to; Intune delivers it to the devices in them. Empty: the policy
	// exists in Intune unassigned and reaches no device.
	// +kubebuilder:validation:MaxItems=100
	// +kubebuilder:validation:items:Pattern=`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`
	// +listType=set
	// +optional
	AssignToGroupIDs []string `json:"assignToGroupIDs,omitempty"`
}

// GroupPolicyLink links the Group Policy object to one organizational unit or the domain.
type GroupPolicyLink struct {
	// Target is the distinguished name of an organizational unit (OU=Workstations,DC=corp,DC=example)
	// or of the domain (DC=corp,DC=example).
	// +kubebuilder:validation:MinLength=4
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule=`self.matches(r'^(?i)\s*(ou|dc)\s*=') && !self.matches(r'[\x00-\x1f\x7f]')`,message="groupPolicy.links[].target must be the distinguished name of an organizational unit (OU=...) or of the domain (DC=...), without control characters"
	Target string `json:"target"`
	// Enforced makes the link apply even below organizational units that block inheritance.
	// +optional
	Enforced bool `json:"enforced,omitempty"`
}

// RotationSettings limits controller-started rotations across the devices of a policy.
type RotationSettings struct {
	// MaxConcurrent is the most devices of this policy with a rotation in progress at once.
	// Unset means no limit.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100000
	// +optional
	MaxConcurrent *int32 `json:"maxConcurrent,omitempty"`
	// RatePerMinute is the most rotation writes per minute for this policy. Unset means no limit.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100000
	// +optional
	RatePerMinute *int32 `json:"ratePerMinute,omitempty"`
	// MaintenanceWindows, when set, restrict controller-started rotations to these windows.
	// +kubebuilder:validation:MaxItems=32
	// +listType=atomic
	// +optional
	MaintenanceWindows []MaintenanceWindow `json:"maintenanceWindows,omitempty"`
}

// MaintenanceWindow is a weekly window, e.g. Saturday and Sunday 22:00 for 4 hours in
// Europe/Berlin. A window may cross midnight; it belongs to the day it starts on.
type MaintenanceWindow struct {
	// Days on which the window starts.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=7
	// +listType=set
	Days []DayOfWeek `json:"days"`
	// Start is the local start time, HH:MM (24-hour).
	// +kubebuilder:validation:Pattern=`^([01][0-9]|2[0-3]):[0-5][0-9]$`
	Start string `json:"start"`
	// DurationMinutes is the window length, 1..1440 minutes.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1440
	DurationMinutes int32 `json:"durationMinutes"`
	// TimeZone is an IANA time zone name (default UTC). Daylight-saving changes follow the zone.
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$`
	// +kubebuilder:default=UTC
	// +optional
	TimeZone string `json:"timeZone,omitempty"`
}

// PublishedPolicy records what the controller published for a policy in one place.
type PublishedPolicy struct {
	// Directory is the directory connection name.
	Directory string `json:"directory"`
	// Kind of the published object: ConfigMap (rendered artefacts for AD roots),
	// GroupPolicyObject (Ref is the GPO's {GUID}) or IntuneConfigurationPolicy (Entra).
	Kind string `json:"kind"`
	// Ref is the object's name or id.
	Ref string `json:"ref"`
	// Hash of the rendered content that was published.
	// +optional
	Hash string `json:"hash,omitempty"`
	// Version is the Group Policy object's version number (GroupPolicyObject only): the machine
	// half in the low 16 bits, as in the object's versionNumber and GPT.INI.
	// +optional
	Version int64 `json:"version,omitempty"`
}

// LapsPolicyStatus is the observed state of a LapsPolicy.
type LapsPolicyStatus struct {
	// ObservedGeneration is the generation last reconciled to Ready or Stalled.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Conditions: Ready, Reconciling, Stalled, PolicyPushed, PrincipalResolved, SettingsIgnored,
	// GPODrift.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// MatchedDevices selected by deviceSelector. The counts are written even when 0, so
	// `kubectl get lapspolicies` shows 0 rather than an empty cell.
	// +optional
	MatchedDevices int32 `json:"matchedDevices"`
	// CompliantDevices: matched devices for which this policy is effective and whose password is
	// current.
	// +optional
	CompliantDevices int32 `json:"compliantDevices"`
	// ExpiredDevices: matched devices whose password expired without rotation.
	// +optional
	ExpiredDevices int32 `json:"expiredDevices"`
	// ConflictingDevices: matched devices on which another policy wins.
	// +optional
	ConflictingDevices int32 `json:"conflictingDevices"`
	// NoPasswordStoredDevices: devices whose directory object has an expiry but never held a
	// password (the Windows LAPS client has not backed one up).
	// +optional
	NoPasswordStoredDevices int32 `json:"noPasswordStoredDevices"`
	// CleartextPasswordDevices: devices whose password is stored in clear text (msLAPS-Password)
	// although this policy requires encryption.
	// +optional
	CleartextPasswordDevices int32 `json:"cleartextPasswordDevices"`
	// LegacyPasswordDevices: devices whose password is stored by legacy Microsoft LAPS
	// (ms-Mcs-AdmPwd) although this policy requires encryption.
	// +optional
	LegacyPasswordDevices int32 `json:"legacyPasswordDevices"`
	// RenderedHash is a stable hash of the effective settings; it changes iff a rendered artefact
	// changes.
	// +optional
	RenderedHash string `json:"renderedHash,omitempty"`
	// Published lists the objects pushed for this policy, per directory.
	// +listType=atomic
	// +optional
	Published []PublishedPolicy `json:"published,omitempty"`
	// IgnoredSettings lists settings Windows will ignore with this policy (see SettingsIgnored).
	// +listType=atomic
	// +optional
	IgnoredSettings []string `json:"ignoredSettings,omitempty"`
}

// LapsPolicy condition types (besides Ready/Reconciling/Stalled).
const (
	// ConditionPolicyPushed: the rendered policy is published where devices read it.
	ConditionPolicyPushed = "PolicyPushed"
	// ConditionPrincipalResolved: adPasswordEncryptionPrincipal resolves to an existing principal.
	ConditionPrincipalResolved = "PrincipalResolved"
	// ConditionSettingsIgnored is abnormal-true: True lists settings Windows will ignore.
	ConditionSettingsIgnored = "SettingsIgnored"
	// ConditionGPODrift is abnormal-true: True says the last reconcile found the Group Policy
	// object edited outside the controller (and names what differed) and restored it.
	ConditionGPODrift = "GPODrift"
	// ConditionTenantLAPSEnabled (EntraID only): the Entra tenant allows devices to back up
	// LAPS passwords (device settings: Microsoft Entra Local Administrator Password Solution).
	// False, reason TenantLAPSDisabled, makes Ready False: no device can back up.
	ConditionTenantLAPSEnabled = "TenantLAPSEnabled"
)

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=lapspol,categories=laps
// +kubebuilder:printcolumn:name="Backup",type=string,JSONPath=`.spec.backupDirectory`
// +kubebuilder:printcolumn:name="Root",type=string,JSONPath=`.spec.policyRoot`
// +kubebuilder:printcolumn:name="GPO",type=string,JSONPath=`.status.published[?(@.kind=="GroupPolicyObject")].ref`
// +kubebuilder:printcolumn:name="Age Days",type=integer,JSONPath=`.spec.passwordAgeDays`
// +kubebuilder:printcolumn:name="Matched",type=integer,JSONPath=`.status.matchedDevices`
// +kubebuilder:printcolumn:name="Compliant",type=integer,JSONPath=`.status.compliantDevices`
// +kubebuilder:printcolumn:name="Expired",type=integer,JSONPath=`.status.expiredDevices`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// LapsPolicy is a Windows LAPS policy for a set of ManagedDevices in its namespace.
type LapsPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   LapsPolicySpec   `json:"spec"`
	Status LapsPolicyStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// LapsPolicyList is a list of LapsPolicy.
type LapsPolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []LapsPolicy `json:"items"`
}
