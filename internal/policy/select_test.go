package policy_test

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
	"github.com/fleetlaps/fleetlaps/internal/policy"
)

const ns = "fleet"

func pol(name string, root lapsv1.PolicyRoot, priority int32, sel *metav1.LabelSelector) lapsv1.LapsPolicy {
	return lapsv1.LapsPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: lapsv1.LapsPolicySpec{BackupDirectory: lapsv1.BackupDirectoryActiveDirectory, DirectoryRef: lapsv1.DirectoryReference{Name: "corp"},
			PolicyRoot: root, Priority: priority, DeviceSelector: sel},
	}
}

func dev(name, dir string, l map[string]string) *lapsv1.ManagedDevice {
	return &lapsv1.ManagedDevice{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: l},
		Spec:       lapsv1.ManagedDeviceSpec{DirectoryRef: lapsv1.DirectoryReference{Name: dir}},
	}
}

func labelsSel(kv ...string) *metav1.LabelSelector {
	m := map[string]string{}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return &metav1.LabelSelector{MatchLabels: m}
}

func TestSelect(t *testing.T) {
	now := metav1.Now()
	deleting := pol("a-deleting", lapsv1.PolicyRootCSP, 100, nil)
	deleting.DeletionTimestamp = &now
	otherDir := pol("a-other-dir", lapsv1.PolicyRootCSP, 100, nil)
	otherDir.Spec.DirectoryRef.Name = "lab"
	otherNS := pol("a-other-ns", lapsv1.PolicyRootCSP, 100, nil)
	otherNS.Namespace = "elsewhere"
	defaultRoot := pol("z-default-root", "", 0, labelsSel("site", "berlin"))

	cases := []struct {
		name     string
		policies []lapsv1.LapsPolicy
		device   *lapsv1.ManagedDevice
		winner   string
		losers   []string
	}{
		{name: "should pick the CSP policy over a higher-priority GroupPolicy one",
			policies: []lapsv1.LapsPolicy{pol("gpo", lapsv1.PolicyRootGroupPolicy, 100, nil), pol("csp", lapsv1.PolicyRootCSP, 0, nil)},
			device:   dev("d", "corp", nil), winner: "csp", losers: []string{"gpo"}},
		{name: "should follow seed 002's root order GroupPolicy > LocalConfiguration > LegacyLAPS",
			policies: []lapsv1.LapsPolicy{pol("legacy", lapsv1.PolicyRootLegacyLAPS, 9, nil), pol("local", lapsv1.PolicyRootLocalConfiguration, 5, nil), pol("gpo", lapsv1.PolicyRootGroupPolicy, 0, nil)},
			device:   dev("d", "corp", nil), winner: "gpo", losers: []string{"legacy", "local"}},
		{name: "should pick the higher priority within one root",
			policies: []lapsv1.LapsPolicy{pol("low", lapsv1.PolicyRootCSP, 1, nil), pol("high", lapsv1.PolicyRootCSP, 2, nil)},
			device:   dev("d", "corp", nil), winner: "high", losers: []string{"low"}},
		{name: "should pick the smaller name when root and priority tie",
			policies: []lapsv1.LapsPolicy{pol("beta", lapsv1.PolicyRootCSP, 1, nil), pol("alpha", lapsv1.PolicyRootCSP, 1, nil), pol("gamma", lapsv1.PolicyRootCSP, 1, nil)},
			device:   dev("d", "corp", nil), winner: "alpha", losers: []string{"beta", "gamma"}},
		{name: "should treat an unset policyRoot on ActiveDirectory as GroupPolicy (beats LocalConfiguration)",
			policies: []lapsv1.LapsPolicy{pol("local", lapsv1.PolicyRootLocalConfiguration, 5, nil), defaultRoot},
			device:   dev("d", "corp", map[string]string{"site": "berlin"}), winner: "z-default-root", losers: []string{"local"}},
		{name: "should treat an unset policyRoot on ActiveDirectory as GroupPolicy (loses to CSP)",
			policies: []lapsv1.LapsPolicy{pol("csp", lapsv1.PolicyRootCSP, 0, nil), defaultRoot},
			device:   dev("d", "corp", map[string]string{"site": "berlin"}), winner: "csp", losers: []string{"z-default-root"}},
		{name: "should skip policies whose selector does not match",
			policies: []lapsv1.LapsPolicy{pol("paris", lapsv1.PolicyRootCSP, 0, labelsSel("site", "paris")), pol("berlin", lapsv1.PolicyRootGroupPolicy, 0, labelsSel("site", "berlin"))},
			device:   dev("d", "corp", map[string]string{"site": "berlin"}), winner: "berlin"},
		{name: "should match an empty selector to every device",
			policies: []lapsv1.LapsPolicy{pol("all", lapsv1.PolicyRootCSP, 0, &metav1.LabelSelector{})},
			device:   dev("d", "corp", map[string]string{"x": "y"}), winner: "all"},
		{name: "should match expressions: In, NotIn, Exists, DoesNotExist",
			policies: []lapsv1.LapsPolicy{
				pol("in", lapsv1.PolicyRootCSP, 4, &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "tier", Operator: metav1.LabelSelectorOpIn, Values: []string{"gold", "silver"}}}}),
				pol("notin", lapsv1.PolicyRootCSP, 3, &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "tier", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"gold"}}}}),
				pol("exists", lapsv1.PolicyRootCSP, 2, &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "tier", Operator: metav1.LabelSelectorOpExists}}}),
				pol("absent", lapsv1.PolicyRootCSP, 1, &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "vip", Operator: metav1.LabelSelectorOpDoesNotExist}}}),
			},
			device: dev("d", "corp", map[string]string{"tier": "silver"}), winner: "in", losers: []string{"absent", "exists", "notin"}},
		{name: "should require every requirement of a selector",
			policies: []lapsv1.LapsPolicy{pol("both", lapsv1.PolicyRootCSP, 0, labelsSel("site", "berlin", "tier", "gold"))},
			device:   dev("d", "corp", map[string]string{"site": "berlin", "tier": "silver"}), winner: ""},
		{name: "should skip policies being deleted, of another directory or namespace",
			policies: []lapsv1.LapsPolicy{deleting, otherDir, otherNS, pol("z", lapsv1.PolicyRootLegacyLAPS, 0, nil)},
			device:   dev("d", "corp", nil), winner: "z"},
		{name: "should select nothing when no policy matches",
			policies: []lapsv1.LapsPolicy{pol("lab", lapsv1.PolicyRootCSP, 0, nil)},
			device:   dev("d", "lab", nil), winner: ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := policy.Select(tc.device, tc.policies)
			if err != nil {
				t.Fatalf("Select: %v", err)
			}
			name := ""
			if got.Winner != nil {
				name = got.Winner.Name
			}
			if name != tc.winner || !reflect.DeepEqual(got.Losers, tc.losers) {
				t.Errorf("Select = winner %q losers %v, want %q %v", name, got.Losers, tc.winner, tc.losers)
			}
		})
	}
}

func TestSelect_InvalidSelectorNamesThePolicy(t *testing.T) {
	bad := pol("bad", lapsv1.PolicyRootCSP, 9, &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "k", Operator: "Near"}}})
	good := pol("good", lapsv1.PolicyRootGroupPolicy, 0, nil)
	got, err := policy.Select(dev("d", "corp", nil), []lapsv1.LapsPolicy{bad, good})
	if err == nil || !strings.Contains(err.Error(), "LapsPolicy fleet/bad") {
		t.Fatalf("err = %v, want it to name LapsPolicy fleet/bad", err)
	}
	if got.Winner == nil || got.Winner.Name != "good" {
		t.Errorf("the other policies must still be selected, got %+v", got)
	}
}

// TestSelector_AgreesWithLinearScan checks the indexed Selector against a plain walk over every
// policy in precedence order, on a generated fleet.
func TestSelector_AgreesWithLinearScan(t *testing.T) {
	for _, heavy := range []bool{false, true} {
		policies, devices := fleet(300, 2000, heavy)
		s, err := policy.NewSelector(policies)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range devices {
			got := s.Select(d)
			want := linearSelect(t, d, policies)
			if (got.Winner == nil) != (want.Winner == nil) || (got.Winner != nil && got.Winner.Name != want.Winner.Name) || !reflect.DeepEqual(got.Losers, want.Losers) {
				t.Fatalf("device %s %v: Selector = %v/%v, linear = %v/%v", d.Name, d.Labels, got.Winner, got.Losers, want.Winner, want.Losers)
			}
		}
	}
}

func linearSelect(t *testing.T, d *lapsv1.ManagedDevice, policies []lapsv1.LapsPolicy) policy.Selection {
	var matched []*lapsv1.LapsPolicy
	for i := range policies {
		p := &policies[i]
		if p.Namespace != d.Namespace || p.Spec.DirectoryRef != d.Spec.DirectoryRef || p.DeletionTimestamp != nil {
			continue
		}
		sel, err := metav1.LabelSelectorAsSelector(p.Spec.DeviceSelector)
		if err != nil {
			t.Fatal(err)
		}
		if p.Spec.DeviceSelector == nil || sel.Matches(labelSet(d.Labels)) {
			matched = append(matched, p)
		}
	}
	if len(matched) == 0 {
		return policy.Selection{}
	}
	best := matched[0]
	for _, p := range matched[1:] {
		if policy.Less(p, best) {
			best = p
		}
	}
	var losers []string
	for _, p := range matched {
		if p != best {
			losers = append(losers, p.Name)
		}
	}
	sortStrings(losers)
	return policy.Selection{Winner: best, Losers: losers}
}

// fleet generates nPolicies policies (site, tier and OS selectors, some select-all, some
// expression-only) and nDevices labelled devices in one namespace.
//
// With heavy, 10% of the policies select every device and 10% select on an expression only, so
// every device has 100+ conflicting policies (a badly configured fleet); otherwise 1% and 1%.
func fleet(nPolicies, nDevices int, heavy bool) ([]lapsv1.LapsPolicy, []*lapsv1.ManagedDevice) {
	roots := []lapsv1.PolicyRoot{lapsv1.PolicyRootCSP, lapsv1.PolicyRootGroupPolicy, lapsv1.PolicyRootLocalConfiguration, lapsv1.PolicyRootLegacyLAPS}
	sites := nPolicies / 2
	policies := make([]lapsv1.LapsPolicy, 0, nPolicies)
	for i := 0; i < nPolicies; i++ {
		var sel *metav1.LabelSelector
		kind := i % 10
		if !heavy && kind < 2 && i%100 >= 10 {
			kind = 5
		}
		switch kind {
		case 0:
			sel = nil // everything
		case 1:
			sel = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "vip", Operator: metav1.LabelSelectorOpExists}}}
		case 2, 3:
			sel = &metav1.LabelSelector{MatchLabels: map[string]string{"tier": fmt.Sprintf("t%d", i%7)},
				MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "os", Operator: metav1.LabelSelectorOpIn, Values: []string{"win10", "win11"}}}}
		default:
			sel = labelsSel("site", fmt.Sprintf("site-%d", i%sites), "os", []string{"win10", "win11", "server"}[i%3])
		}
		policies = append(policies, pol(fmt.Sprintf("p-%04d", i), roots[i%4], int32(i%5), sel))
	}
	devices := make([]*lapsv1.ManagedDevice, nDevices)
	for i := range devices {
		l := map[string]string{
			"site": fmt.Sprintf("site-%d", i%(sites+10)),
			"os":   []string{"win10", "win11", "server"}[i%3],
			"tier": fmt.Sprintf("t%d", i%11),
			"dept": fmt.Sprintf("d%d", i%17),
		}
		if i%97 == 0 {
			l["vip"] = "true"
		}
		devices[i] = dev(fmt.Sprintf("dev-%06d", i), "corp", l)
	}
	return policies, devices
}

// BenchmarkSelect: 100k devices x 1k policies in one namespace; reports ns/device.
func BenchmarkSelect(b *testing.B) {
	for _, heavy := range []bool{false, true} {
		name := "typical"
		if heavy {
			name = "heavy-conflicts"
		}
		b.Run(name, func(b *testing.B) { benchmarkSelect(b, heavy) })
	}
}

func benchmarkSelect(b *testing.B, heavy bool) {
	policies, devices := fleet(1000, 100000, heavy)
	b.Run("NewSelector", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := policy.NewSelector(policies); err != nil {
				b.Fatal(err)
			}
		}
	})
	s, err := policy.NewSelector(policies)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("Selector.Select", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			_ = s.Select(devices[i%len(devices)])
			i++
		}
	})
	b.Run("100k-devices", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for _, d := range devices {
				_ = s.Select(d)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(devices)), "ns/device")
		var losers int
		for _, d := range devices {
			losers += len(s.Select(d).Losers)
		}
		b.ReportMetric(float64(losers)/float64(len(devices)), "losers/device")
	})
}
