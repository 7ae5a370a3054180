// Package conditions sets status conditions the way every fleetlaps reconciler needs them:
// LastTransitionTime from an injected clock (kept while status, reason and message stay), a
// stable order, a Ready summary over domain conditions with explicit polarity, and the kstatus
// pair Reconciling/Stalled.
package conditions

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
)

// Polarity says which status of a domain condition is the healthy one.
type Polarity int

const (
	// PositivePolarity: True is healthy (PolicyApplied, PasswordCurrent).
	PositivePolarity Polarity = iota
	// NegativePolarity: True is abnormal (RollbackDetected, SettingsIgnored).
	NegativePolarity
)

// Dependency is one input of the Ready summary.
type Dependency struct {
	Type     string
	Polarity Polarity
	// Optional dependencies that are absent or Unknown (e.g. PolicyCompatible before any agent
	// reported an OS build) do not hold Ready back; False (or abnormal True) still does.
	Optional bool
}

// Set sets c on conds. LastTransitionTime is now (cut to seconds) when status changes, and is
// kept while status, reason and message stay; a changed reason or message with the same status
// keeps the time too (as meta.SetStatusCondition does). It returns whether conds changed.
// The list is kept in Order (Ready, Reconciling, Stalled first, then by type).
func Set(conds *[]metav1.Condition, c metav1.Condition, now time.Time) bool {
	c.LastTransitionTime = metav1.NewTime(now.Truncate(time.Second))
	if c.Reason == "" {
		c.Reason = "Unknown"
	}
	changed := meta.SetStatusCondition(conds, c)
	if Sort(*conds) {
		changed = true
	}
	return changed
}

// Remove deletes the condition of type t and reports whether it was there.
func Remove(conds *[]metav1.Condition, t string) bool {
	return meta.RemoveStatusCondition(conds, t)
}

// Get returns the condition of type t, or nil.
func Get(conds []metav1.Condition, t string) *metav1.Condition {
	return meta.FindStatusCondition(conds, t)
}

// IsTrue reports whether the condition of type t is True.
func IsTrue(conds []metav1.Condition, t string) bool {
	return meta.IsStatusConditionTrue(conds, t)
}

// order ranks the kstatus conditions first; the rest sort by type.
func order(t string) int {
	switch t {
	case lapsv1.ConditionReady:
		return 0
	case lapsv1.ConditionReconciling:
		return 1
	case lapsv1.ConditionStalled:
		return 2
	}
	return 3
}

// Sort orders conds stably (Ready, Reconciling, Stalled, then alphabetically) and reports
// whether it moved anything.
func Sort(conds []metav1.Condition) bool {
	less := func(a, b metav1.Condition) int {
		if d := order(a.Type) - order(b.Type); d != 0 {
			return d
		}
		return strings.Compare(a.Type, b.Type)
	}
	if slices.IsSortedFunc(conds, less) {
		return false
	}
	slices.SortStableFunc(conds, less)
	return true
}

// MarkReconciling sets Reconciling=True with reason and message.
func MarkReconciling(conds *[]metav1.Condition, reason, message string, now time.Time) bool {
	return Set(conds, metav1.Condition{Type: lapsv1.ConditionReconciling, Status: metav1.ConditionTrue, Reason: reason, Message: message}, now)
}

// MarkStalled sets Stalled=True and removes Reconciling (kstatus: stalled is terminal until the
// spec changes).
func MarkStalled(conds *[]metav1.Condition, reason, message string, now time.Time) bool {
	a := Set(conds, metav1.Condition{Type: lapsv1.ConditionStalled, Status: metav1.ConditionTrue, Reason: reason, Message: message}, now)
	b := Remove(conds, lapsv1.ConditionReconciling)
	return a || b
}

// ClearStalled removes Stalled.
func ClearStalled(conds *[]metav1.Condition) bool { return Remove(conds, lapsv1.ConditionStalled) }

// ClearReconciling removes Reconciling.
func ClearReconciling(conds *[]metav1.Condition) bool {
	return Remove(conds, lapsv1.ConditionReconciling)
}

// Summary computes Ready from deps. The first unhealthy dependency (in deps order) gives
// Ready=False with its reason and message; a missing or Unknown required one gives Unknown;
// otherwise Ready=True with readyReason/readyMessage. Stalled=True makes Ready=False with the
// Stalled reason; Reconciling=True makes Ready Unknown unless something is already False.
func Summary(conds []metav1.Condition, deps []Dependency, readyReason, readyMessage string) metav1.Condition {
	ready := metav1.Condition{Type: lapsv1.ConditionReady}
	if s := Get(conds, lapsv1.ConditionStalled); s != nil && s.Status == metav1.ConditionTrue {
		ready.Status, ready.Reason, ready.Message = metav1.ConditionFalse, s.Reason, s.Message
		return ready
	}
	var unknown *metav1.Condition
	var missing string
	for _, d := range deps {
		c := Get(conds, d.Type)
		if c == nil {
			if !d.Optional && missing == "" {
				missing = d.Type
			}
			continue
		}
		switch {
		case c.Status == metav1.ConditionUnknown:
			if unknown == nil && !d.Optional {
				unknown = c
			}
		case healthy(c.Status, d.Polarity):
		default:
			ready.Status, ready.Reason, ready.Message = metav1.ConditionFalse, c.Reason, c.Message
			return ready
		}
	}
	if r := Get(conds, lapsv1.ConditionReconciling); r != nil && r.Status == metav1.ConditionTrue {
		ready.Status, ready.Reason, ready.Message = metav1.ConditionUnknown, r.Reason, r.Message
		return ready
	}
	if unknown != nil {
		ready.Status, ready.Reason, ready.Message = metav1.ConditionUnknown, unknown.Reason, unknown.Message
		return ready
	}
	if missing != "" {
		ready.Status, ready.Reason, ready.Message = metav1.ConditionUnknown, "Progressing", fmt.Sprintf("%s not observed yet", missing)
		return ready
	}
	ready.Status, ready.Reason, ready.Message = metav1.ConditionTrue, readyReason, readyMessage
	return ready
}

func healthy(s metav1.ConditionStatus, p Polarity) bool {
	if p == NegativePolarity {
		return s == metav1.ConditionFalse
	}
	return s == metav1.ConditionTrue
}

// SetSummary sets Ready from Summary and reports whether it changed.
func SetSummary(conds *[]metav1.Condition, deps []Dependency, readyReason, readyMessage string, now time.Time) bool {
	return Set(conds, Summary(*conds, deps, readyReason, readyMessage), now)
}

// ObservedGeneration returns the generation status.observedGeneration should hold: generation
// when Ready is True or Stalled is True (the controller reached a verdict on this spec),
// otherwise current, unchanged.
func ObservedGeneration(conds []metav1.Condition, generation, current int64) int64 {
	if IsTrue(conds, lapsv1.ConditionReady) || IsTrue(conds, lapsv1.ConditionStalled) {
		return generation
	}
	return current
}

// Stamp sets ObservedGeneration on every condition to generation (kstatus compares them).
func Stamp(conds []metav1.Condition, generation int64) {
	for i := range conds {
		conds[i].ObservedGeneration = generation
	}
}
