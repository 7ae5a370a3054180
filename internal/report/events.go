package report

import "slices"

// NewestPerID keeps the newest event of each event ID, newest first (ties keep the input
// order). A device logs the same event again every cycle (10018, the password stored, once per
// rotation; a failure once per retry): the older copies tell nothing the newest does not, and
// kept they would fill status.agent.recentEvents to its bound on every device of a long-lived
// fleet.
func NewestPerID(events []Event) []Event {
	if len(events) == 0 {
		return nil
	}
	out := slices.Clone(events)
	slices.SortStableFunc(out, func(a, b Event) int { return b.Time.Compare(a.Time) })
	seen := make(map[int32]bool, len(out))
	return slices.DeleteFunc(out, func(e Event) bool {
		dup := seen[e.ID]
		seen[e.ID] = true
		return dup
	})
}
