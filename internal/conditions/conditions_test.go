package conditions

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
)

var (
	t0 = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	t1 = t0.Add(90*time.Minute + 123*time.Millisecond)
)

func cond(t string, s metav1.ConditionStatus, reason string) metav1.Condition {
	return metav1.Condition{Type: t, Status: s, Reason: reason, Message: reason + " message"}
}

func TestSet(t *testing.T) {
	cases := map[string]struct {
		before      []metav1.Condition
		set         metav1.Condition
		wantChanged bool
		wantTime    time.Time
	}{
		"should add a new condition with the clock's time cut to seconds": {
			set: cond("PasswordCurrent", metav1.ConditionTrue, "NotExpired"), wantChanged: true, wantTime: t1.Truncate(time.Second),
		},
		"should keep the transition time and report no change when nothing changed": {
			before: []metav1.Condition{withTime(cond("PasswordCurrent", metav1.ConditionTrue, "NotExpired"), t0)},
			set:    cond("PasswordCurrent", metav1.ConditionTrue, "NotExpired"), wantChanged: false, wantTime: t0,
		},
		"should move the transition time when the status flips": {
			before: []metav1.Condition{withTime(cond("PasswordCurrent", metav1.ConditionTrue, "NotExpired"), t0)},
			set:    cond("PasswordCurrent", metav1.ConditionFalse, "Expired"), wantChanged: true, wantTime: t1.Truncate(time.Second),
		},
		"should keep the transition time but report a change when only the message changes": {
			before: []metav1.Condition{withTime(cond("PasswordCurrent", metav1.ConditionFalse, "Expired"), t0)},
			set:    metav1.Condition{Type: "PasswordCurrent", Status: metav1.ConditionFalse, Reason: "Expired", Message: "other"}, wantChanged: true, wantTime: t0,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			conds := append([]metav1.Condition(nil), tc.before...)
			if got := Set(&conds, tc.set, t1); got != tc.wantChanged {
				t.Fatalf("changed = %v, want %v", got, tc.wantChanged)
			}
			c := Get(conds, tc.set.Type)
			if !c.LastTransitionTime.Time.Equal(tc.wantTime) {
				t.Fatalf("LastTransitionTime = %v, want %v", c.LastTransitionTime, tc.wantTime)
			}
		})
	}
}

func withTime(c metav1.Condition, at time.Time) metav1.Condition {
	c.LastTransitionTime = metav1.NewTime(at)
	return c
}

func TestSetKeepsStableOrder(t *testing.T) {
	var conds []metav1.Condition
	for _, ty := range []string{"RollbackDetected", lapsv1.ConditionStalled, "AgentReporting", lapsv1.ConditionReady, lapsv1.ConditionReconciling} {
		Set(&conds, cond(ty, metav1.ConditionTrue, "X"), t0)
	}
	want := []string{lapsv1.ConditionReady, lapsv1.ConditionReconciling, lapsv1.ConditionStalled, "AgentReporting", "RollbackDetected"}
	for i, c := range conds {
		if c.Type != want[i] {
			t.Fatalf("order = %v, want %v", types(conds), want)
		}
	}
	// Setting again in a different order changes nothing.
	if Set(&conds, cond("AgentReporting", metav1.ConditionTrue, "X"), t1) {
		t.Fatal("re-setting an unchanged condition reported a change")
	}
}

func types(cs []metav1.Condition) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Type)
	}
	return out
}

func TestSummary(t *testing.T) {
	deps := []Dependency{
		{Type: "PolicyApplied"},
		{Type: "PasswordCurrent"},
		{Type: "RollbackDetected", Polarity: NegativePolarity},
		{Type: "AgentReporting", Optional: true},
	}
	cases := map[string]struct {
		conds      []metav1.Condition
		wantStatus metav1.ConditionStatus
		wantReason string
	}{
		"should be True when every positive condition is True and the negative one False": {
			conds: []metav1.Condition{
				cond("PolicyApplied", metav1.ConditionTrue, "Applied"),
				cond("PasswordCurrent", metav1.ConditionTrue, "NotExpired"),
				cond("RollbackDetected", metav1.ConditionFalse, "VersionsMatch"),
			},
			wantStatus: metav1.ConditionTrue, wantReason: "Succeeded",
		},
		"should be False with the abnormal-true condition's reason when a rollback is detected": {
			conds: []metav1.Condition{
				cond("PolicyApplied", metav1.ConditionTrue, "Applied"),
				cond("PasswordCurrent", metav1.ConditionTrue, "NotExpired"),
				cond("RollbackDetected", metav1.ConditionTrue, "VersionMismatch"),
			},
			wantStatus: metav1.ConditionFalse, wantReason: "VersionMismatch",
		},
		"should take the first False in dependency order": {
			conds: []metav1.Condition{
				cond("PolicyApplied", metav1.ConditionFalse, "NoPolicy"),
				cond("PasswordCurrent", metav1.ConditionFalse, "Expired"),
				cond("RollbackDetected", metav1.ConditionFalse, "VersionsMatch"),
			},
			wantStatus: metav1.ConditionFalse, wantReason: "NoPolicy",
		},
		"should ignore an optional condition that is Unknown": {
			conds: []metav1.Condition{
				cond("PolicyApplied", metav1.ConditionTrue, "Applied"),
				cond("PasswordCurrent", metav1.ConditionTrue, "NotExpired"),
				cond("RollbackDetected", metav1.ConditionFalse, "VersionsMatch"),
				cond("AgentReporting", metav1.ConditionUnknown, "NoReport"),
			},
			wantStatus: metav1.ConditionTrue, wantReason: "Succeeded",
		},
		"should be Unknown when a required condition is missing": {
			conds:      []metav1.Condition{cond("PolicyApplied", metav1.ConditionTrue, "Applied")},
			wantStatus: metav1.ConditionUnknown, wantReason: "Progressing",
		},
		"should be False with the Stalled reason when stalled": {
			conds: []metav1.Condition{
				cond(lapsv1.ConditionStalled, metav1.ConditionTrue, "UnknownDirectory"),
				cond("PolicyApplied", metav1.ConditionTrue, "Applied"),
			},
			wantStatus: metav1.ConditionFalse, wantReason: "UnknownDirectory",
		},
		"should be Unknown while reconciling and nothing is False": {
			conds: []metav1.Condition{
				cond(lapsv1.ConditionReconciling, metav1.ConditionTrue, "Progressing"),
				cond("PolicyApplied", metav1.ConditionTrue, "Applied"),
				cond("PasswordCurrent", metav1.ConditionTrue, "NotExpired"),
				cond("RollbackDetected", metav1.ConditionFalse, "VersionsMatch"),
			},
			wantStatus: metav1.ConditionUnknown, wantReason: "Progressing",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got := Summary(tc.conds, deps, "Succeeded", "ok")
			if got.Status != tc.wantStatus || got.Reason != tc.wantReason {
				t.Fatalf("Ready = %s/%s, want %s/%s", got.Status, got.Reason, tc.wantStatus, tc.wantReason)
			}
		})
	}
}

func TestObservedGeneration(t *testing.T) {
	cases := map[string]struct {
		conds []metav1.Condition
		want  int64
	}{
		"should move when Ready is True":              {conds: []metav1.Condition{cond(lapsv1.ConditionReady, metav1.ConditionTrue, "R")}, want: 3},
		"should move when Stalled is True":            {conds: []metav1.Condition{cond(lapsv1.ConditionStalled, metav1.ConditionTrue, "S")}, want: 3},
		"should stay when Ready is False":             {conds: []metav1.Condition{cond(lapsv1.ConditionReady, metav1.ConditionFalse, "R")}, want: 1},
		"should stay when Ready is Unknown or absent": {want: 1},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := ObservedGeneration(tc.conds, 3, 1); got != tc.want {
				t.Fatalf("got %d want %d", got, tc.want)
			}
		})
	}
}

func TestMarkStalledRemovesReconciling(t *testing.T) {
	var conds []metav1.Condition
	MarkReconciling(&conds, "Progressing", "working", t0)
	MarkStalled(&conds, "UnknownDirectory", "no such directory", t0)
	if Get(conds, lapsv1.ConditionReconciling) != nil {
		t.Fatal("Reconciling still present after MarkStalled")
	}
	if !IsTrue(conds, lapsv1.ConditionStalled) {
		t.Fatal("Stalled not True")
	}
}
