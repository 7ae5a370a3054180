package policy

import (
	"errors"
	"fmt"
	"sort"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
)

// Selection is the outcome of choosing the effective policy for one device.
type Selection struct {
	// Winner is the one effective policy, nil when no policy selects the device. It points into
	// the Selector's own (shallow) copy of the policies: read it, do not modify it.
	Winner *lapsv1.LapsPolicy
	// Losers are the names of the other policies that select the device (conflicts), sorted by
	// name. Their settings are never merged into the winner's (seed 002: "Policy settings are
	// never shared or inherited across policy key roots").
	Losers []string
}

// Select returns the effective policy for device among policies: those in the device's
// namespace, not being deleted, whose spec.directoryRef equals the device's and whose
// deviceSelector matches the device's labels (nil or empty selector = every device). The winner
// is the first in seed 002's root order (CSP > GroupPolicy > LocalConfiguration > LegacyLAPS:
// "Windows LAPS queries all known registry key policy roots, starting at the top"), then higher
// spec.priority, then the lexically smaller name.
//
// A policy whose selector cannot be parsed is left out and named in the returned error; the
// Selection over the other policies is still returned. For many devices build a Selector once.
func Select(device *lapsv1.ManagedDevice, policies []lapsv1.LapsPolicy) (Selection, error) {
	s, err := NewSelector(policies)
	return s.Select(device), err
}

// Selector picks effective policies for many devices against one precompiled set of policies.
// Build it once per policy list (e.g. per reconcile of a namespace's devices, or cached per
// list resourceVersion); Select is safe for concurrent use.
//
// Policies are sorted once into precedence order and their label selectors parsed. Policies with
// the same namespace, directory and selector form one group, so a selector is evaluated once per
// device however many policies share it. To avoid testing every group against every device,
// groups are indexed by one equality requirement (key=value, or key in (values)) of their
// selector: a device tests only the groups indexed under its own labels, plus the group that
// selects everything and the groups whose selector has no equality requirement. The winner is
// the matched policy with the lowest precedence rank; the others, merged in name order, are the
// losers.
type Selector struct {
	policies []lapsv1.LapsPolicy // in precedence order
	groups   []group
	buckets  map[bucketKey]*bucket
}

type bucketKey struct{ namespace, directory string }

type bucket struct {
	all     int32                         // group with an empty selector, -1 when none
	scan    []int32                       // groups whose selector has no equality requirement
	indexed map[string]map[string][]int32 // label key -> value -> groups anchored there
}

// group is the policies of one bucket that share a selector.
type group struct {
	reqs    labels.Requirements
	anchor  int     // index in reqs used for the index, -1 when none
	first   int32   // the member with the lowest precedence rank
	members []int32 // policy indices in name order
}

// NewSelector sorts and compiles policies. Policies with a DeletionTimestamp are skipped. A
// policy whose deviceSelector is invalid is left out and named in the error; the returned
// Selector is usable in every case.
func NewSelector(policies []lapsv1.LapsPolicy) (*Selector, error) {
	s := &Selector{buckets: map[bucketKey]*bucket{}}
	s.policies = make([]lapsv1.LapsPolicy, 0, len(policies))
	for i := range policies {
		if policies[i].DeletionTimestamp != nil {
			continue
		}
		s.policies = append(s.policies, policies[i])
	}
	sort.SliceStable(s.policies, func(i, j int) bool { return Less(&s.policies[i], &s.policies[j]) })

	type groupKey struct {
		bucketKey
		selector string
	}
	groupOf := map[groupKey]int32{}
	var groupBucket []bucketKey
	var errs []error
	for i := range s.policies {
		p := &s.policies[i]
		reqs, err := compile(p.Spec.DeviceSelector)
		anchor := -1
		if err != nil {
			errs = append(errs, fmt.Errorf("LapsPolicy %s/%s: invalid spec.deviceSelector: %w", p.Namespace, p.Name, err))
			continue
		}
		bk := bucketKey{p.Namespace, p.Spec.DirectoryRef.Name}
		gk := groupKey{bk, reqs.String()}
		if g, ok := groupOf[gk]; ok {
			s.groups[g].members = append(s.groups[g].members, int32(i))
			continue
		}
		g := int32(len(s.groups))
		groupOf[gk] = g
		s.groups = append(s.groups, group{reqs: reqs, anchor: anchor, first: int32(i), members: []int32{int32(i)}})
		groupBucket = append(groupBucket, bk)
	}
	// Index each group under its most selective equality requirement: the one whose label
	// key=value pairs are shared by the fewest groups (a selector "os=win11,site=berlin" goes
	// under site=berlin, not under the value that half the fleet has).
	shared := map[bucketKV]int{}
	for gi := range s.groups {
		for _, r := range s.groups[gi].reqs {
			if isEquality(r) {
				for _, v := range r.ValuesUnsorted() {
					shared[bucketKV{groupBucket[gi], r.Key(), v}]++
				}
			}
		}
	}
	for gi := range s.groups {
		g := &s.groups[gi]
		bk := groupBucket[gi]
		best := -1
		for ri, r := range g.reqs {
			if !isEquality(r) {
				continue
			}
			n := 0
			for _, v := range r.ValuesUnsorted() {
				n += shared[bucketKV{bk, r.Key(), v}]
			}
			if g.anchor < 0 || n < best {
				g.anchor, best = ri, n
			}
		}
		b := s.buckets[bk]
		if b == nil {
			b = &bucket{all: -1, indexed: map[string]map[string][]int32{}}
			s.buckets[bk] = b
		}
		switch {
		case len(g.reqs) == 0:
			b.all = int32(gi)
		case g.anchor < 0:
			b.scan = append(b.scan, int32(gi))
		default:
			r := g.reqs[g.anchor]
			byValue := b.indexed[r.Key()]
			if byValue == nil {
				byValue = map[string][]int32{}
				b.indexed[r.Key()] = byValue
			}
			for v := range r.Values() {
				byValue[v] = append(byValue[v], int32(gi))
			}
		}
	}
	for gi := range s.groups {
		m := s.groups[gi].members
		sort.Slice(m, func(a, b int) bool { return s.policies[m[a]].Name < s.policies[m[b]].Name })
	}
	return s, errors.Join(errs...)
}

// Less orders two policies by effective precedence: root (seed 002), then higher priority, then
// smaller name.
func Less(a, b *lapsv1.LapsPolicy) bool {
	ra, rb := rootOf(&a.Spec).Precedence(), rootOf(&b.Spec).Precedence()
	if ra != rb {
		return ra < rb
	}
	if a.Spec.Priority != b.Spec.Priority {
		return a.Spec.Priority > b.Spec.Priority
	}
	if a.Name != b.Name {
		return a.Name < b.Name
	}
	return a.Namespace < b.Namespace
}

type bucketKV struct {
	bucketKey
	key, value string
}

// compile parses a selector; a nil or empty selector has no requirements (matches everything).
func compile(sel *metav1.LabelSelector) (labels.Requirements, error) {
	if sel == nil {
		return nil, nil
	}
	ls, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return nil, err
	}
	reqs, _ := ls.Requirements()
	return reqs, nil
}

func isEquality(r labels.Requirement) bool {
	switch r.Operator() {
	case selection.Equals, selection.DoubleEquals, selection.In:
		return true
	}
	return false
}

func (g *group) matches(l labels.Set) bool {
	for i := range g.reqs {
		if !g.reqs[i].Matches(l) {
			return false
		}
	}
	return true
}

// Select returns the effective policy for device and the names of the losing policies.
func (s *Selector) Select(device *lapsv1.ManagedDevice) Selection {
	b := s.buckets[bucketKey{device.Namespace, device.Spec.DirectoryRef.Name}]
	if b == nil {
		return Selection{}
	}
	l := labels.Set(device.Labels)
	var stack [16]int32
	matched := stack[:0]
	if b.all >= 0 {
		matched = append(matched, b.all)
	}
	for _, g := range b.scan {
		if s.groups[g].matches(l) {
			matched = append(matched, g)
		}
	}
	if len(b.indexed) > 0 {
		for k, v := range device.Labels {
			if byValue, ok := b.indexed[k]; ok {
				for _, g := range byValue[v] {
					if s.groups[g].matches(l) {
						matched = append(matched, g)
					}
				}
			}
		}
	}
	if len(matched) == 0 {
		return Selection{}
	}
	best, n := int32(-1), 0
	for _, g := range matched {
		if f := s.groups[g].first; best < 0 || f < best {
			best = f
		}
		n += len(s.groups[g].members)
	}
	sel := Selection{Winner: &s.policies[best]}
	if n > 1 {
		sel.Losers = s.mergeNames(matched, best, n-1)
	}
	return sel
}

// mergeNames merges the name-ordered members of the matched groups, leaving out skip.
func (s *Selector) mergeNames(matched []int32, skip int32, n int) []string {
	out := make([]string, 0, n)
	if len(matched) == 1 {
		for _, i := range s.groups[matched[0]].members {
			if i != skip {
				out = append(out, s.policies[i].Name)
			}
		}
		return out
	}
	var headStack [16]int
	heads := headStack[:len(matched)]
	if len(matched) > len(headStack) {
		heads = make([]int, len(matched))
	}
	for {
		pick := -1
		for gi, g := range matched {
			m := s.groups[g].members
			if heads[gi] < len(m) && (pick < 0 || s.policies[m[heads[gi]]].Name < s.policies[s.groups[matched[pick]].members[heads[pick]]].Name) {
				pick = gi
			}
		}
		if pick < 0 {
			return out
		}
		i := s.groups[matched[pick]].members[heads[pick]]
		heads[pick]++
		if i != skip {
			out = append(out, s.policies[i].Name)
		}
	}
}
