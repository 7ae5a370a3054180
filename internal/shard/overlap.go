// Package shard keeps managers with --shard-selector from handling the same objects: each
// manager registers its selector in a Lease of its own namespace and refuses to start when a
// live registration of another shard could select an object its own selector selects.
package shard

import (
	"fmt"
	"strconv"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/util/sets"
)

// Overlap says whether some label set matches both selectors (label selector syntax; empty
// selects everything). Keys are independent, so the selectors overlap exactly when every key's
// requirements from both can hold at once.
func Overlap(a, b string) (bool, error) {
	sa, err := labels.Parse(a)
	if err != nil {
		return false, fmt.Errorf("shard selector %q: %w", a, err)
	}
	sb, err := labels.Parse(b)
	if err != nil {
		return false, fmt.Errorf("shard selector %q: %w", b, err)
	}
	ra, _ := sa.Requirements()
	rb, _ := sb.Requirements()
	byKey := map[string][]labels.Requirement{}
	for _, r := range append(ra, rb...) {
		byKey[r.Key()] = append(byKey[r.Key()], r)
	}
	for _, reqs := range byKey {
		if !satisfiable(reqs) {
			return false, nil
		}
	}
	return true, nil
}

// satisfiable says whether one key's requirements can all hold: by the label being absent, or
// by one value.
func satisfiable(reqs []labels.Requirement) bool {
	absentOK := true
	var allowed sets.Set[string] // nil: any value
	excluded := sets.New[string]()
	var gt, lt *int64
	for _, r := range reqs {
		vals := r.ValuesUnsorted()
		switch r.Operator() {
		case selection.Exists:
			absentOK = false
		case selection.DoesNotExist:
			allowed = sets.New[string]() // no value may be present
		case selection.Equals, selection.DoubleEquals, selection.In:
			absentOK = false
			s := sets.New(vals...)
			if allowed == nil {
				allowed = s
			} else {
				allowed = allowed.Intersection(s)
			}
		case selection.NotEquals, selection.NotIn:
			excluded.Insert(vals...)
		case selection.GreaterThan, selection.LessThan:
			absentOK = false
			n, err := strconv.ParseInt(vals[0], 10, 64)
			if err != nil {
				return false
			}
			if r.Operator() == selection.GreaterThan && (gt == nil || n > *gt) {
				gt = &n
			}
			if r.Operator() == selection.LessThan && (lt == nil || n < *lt) {
				lt = &n
			}
		}
	}
	if absentOK {
		return true
	}
	ok := func(v string) bool {
		if excluded.Has(v) || (allowed != nil && !allowed.Has(v)) {
			return false
		}
		if gt != nil || lt != nil {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || (gt != nil && n <= *gt) || (lt != nil && n >= *lt) {
				return false
			}
		}
		return true
	}
	if allowed != nil {
		for v := range allowed {
			if ok(v) {
				return true
			}
		}
		return false
	}
	if gt == nil && lt == nil {
		return true // a value no requirement names
	}
	// Integers in the open interval, skipping the excluded ones: len(excluded)+1 candidates
	// from either end suffice.
	var start int64
	switch {
	case gt != nil:
		if *gt == 1<<63-1 {
			return false
		}
		start = *gt + 1
	default:
		if *lt == -1<<63 {
			return false
		}
		start = *lt - 1 - int64(excluded.Len())
	}
	for i := int64(0); i <= int64(excluded.Len()); i++ {
		if ok(strconv.FormatInt(start+i, 10)) {
			return true
		}
	}
	return false
}
