package grouppolicy

import (
	"reflect"
	"strings"
	"testing"
)

func TestPlanTemplate(t *testing.T) {
	pol := []byte("PReg\x01\x00\x00\x00[a]")
	desired := Desired{DisplayName: "fleetlaps ns/p", FileSysPath: `\\fleet.test\sysvol\fleet.test\Policies\{G}`, MachineExtensions: RegistryExtensions, RegistryPol: pol}
	inSync := Observed{DisplayName: desired.DisplayName, Flags: "0", FunctionalityVersion: "2", FileSysPath: desired.FileSysPath,
		MachineExtensions: RegistryExtensions, Version: 0x0001_0004, GPTINI: FormatGPTINI(0x0001_0004), RegistryPol: pol}
	with := func(f func(*Observed)) Observed { o := inSync; f(&o); return o }
	cases := []struct {
		name        string
		obs         Observed
		want        Plan
		differences []string
	}{
		{name: "should write nothing when everything agrees", obs: inSync, want: Plan{}},
		{name: "should accept a differently cased path and GPT.INI with other keys", obs: with(func(o *Observed) {
			o.FileSysPath = strings.ToUpper(o.FileSysPath)
			o.GPTINI = []byte("[General]\r\ndisplayName=New Group Policy Object\r\nVersion=65540\r\n")
		}), want: Plan{}},
		{name: "should write a new object's template at machine version 1", obs: Observed{}, want: Plan{WriteRegistryPol: true, WriteVersion: true, Version: 1,
			Attributes: map[string]string{"displayName": desired.DisplayName, "flags": "0", "gPCFunctionalityVersion": "2", "gPCFileSysPath": desired.FileSysPath, "gPCMachineExtensionNames": RegistryExtensions}},
			differences: []string{"GPT.INI is missing", `Machine\Registry.pol is missing`}},
		{name: "should bump the machine half once for changed content", obs: with(func(o *Observed) { o.RegistryPol = []byte("PReg\x01\x00\x00\x00") }),
			want: Plan{WriteRegistryPol: true, WriteVersion: true, Version: 0x0001_0005}, differences: []string{`Machine\Registry.pol content differs (8 bytes, want 11)`}},
		{name: "should make disagreeing versions equal above the larger one", obs: with(func(o *Observed) { o.GPTINI = FormatGPTINI(0x0001_0009) }),
			want: Plan{WriteVersion: true, Version: 0x0001_000A}, differences: []string{"GPT.INI version 65545 and versionNumber 65540 disagree"}},
		{name: "should rewrite an unreadable GPT.INI", obs: with(func(o *Observed) { o.GPTINI = []byte("junk") }),
			want: Plan{WriteVersion: true, Version: 0x0001_0005}, differences: []string{"GPT.INI: no Version= in [General]"}},
		{name: "should restore attributes without a version bump", obs: with(func(o *Observed) { o.Flags = "2"; o.DisplayName = "renamed" }),
			want:        Plan{Attributes: map[string]string{"flags": "0", "displayName": desired.DisplayName}},
			differences: []string{`displayName is "renamed", want "fleetlaps ns/p"`, `flags is "2", want "0"`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := PlanTemplate(tc.obs, desired)
			diffs := got.Differences
			got.Differences = nil
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("plan = %+v, want %+v", got, tc.want)
			}
			for _, d := range tc.differences {
				found := false
				for _, g := range diffs {
					found = found || g == d
				}
				if !found {
					t.Errorf("differences %q lack %q", diffs, d)
				}
			}
			if tc.want.Empty() != (len(diffs) == 0) {
				t.Errorf("differences %q for plan %+v", diffs, tc.want)
			}
		})
	}
}
