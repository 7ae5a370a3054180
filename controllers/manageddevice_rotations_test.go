package controllers

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
)

func TestSummarizeRotations(t *testing.T) {
	t0 := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	at := func(h int) *metav1.Time { v := metav1.NewTime(t0.Add(time.Duration(h) * time.Hour)); return &v }
	req := func(name string, createdH int, phase lapsv1.RotationPhase, results ...lapsv1.DeviceRotationResult) lapsv1.RotationRequest {
		q := lapsv1.RotationRequest{}
		q.Name, q.CreationTimestamp = name, *at(createdH)
		q.Spec.DeviceName = "pc1"
		q.Status.Phase, q.Status.Results = phase, results
		if phase == lapsv1.RotationFailed || phase == lapsv1.RotationSucceeded {
			q.Status.CompletionTime = at(createdH + 26)
		}
		return q
	}
	result := func(state lapsv1.DeviceRotationState, attempts int32, lastFailureH *int, written bool) lapsv1.DeviceRotationResult {
		r := lapsv1.DeviceRotationResult{Device: "pc1", State: state, Attempts: attempts}
		if lastFailureH != nil {
			r.LastFailureTime = at(*lastFailureH)
		}
		if written {
			r.WrittenAt = at(1)
		}
		return r
	}
	h := func(v int) *int { return &v }

	cases := map[string]struct {
		updated time.Time
		reqs    []lapsv1.RotationRequest
		want    rotationHistory
	}{
		"should report nothing for a device no request targets": {},
		"should count a request not yet expanded as active": {
			reqs: []lapsv1.RotationRequest{req("a", 0, "")},
			want: rotationHistory{active: []string{"a"}, newest: "a"},
		},
		"should count every failed write while the request keeps retrying": {
			reqs: []lapsv1.RotationRequest{req("a", 0, lapsv1.RotationInProgress, result(lapsv1.DeviceRotationRequested, 3, h(2), false))},
			want: rotationHistory{active: []string{"a"}, newest: "a", failedAttempts: 3, lastFailure: t0.Add(2 * time.Hour)},
		},
		"should not count the write that finally went through": {
			reqs: []lapsv1.RotationRequest{req("a", 0, lapsv1.RotationInProgress, result(lapsv1.DeviceRotationRequested, 3, h(2), true))},
			want: rotationHistory{active: []string{"a"}, newest: "a", failedAttempts: 2, lastFailure: t0.Add(2 * time.Hour)},
		},
		"should count a request that failed for the device at its completion time": {
			reqs: []lapsv1.RotationRequest{req("a", 0, lapsv1.RotationFailed, result(lapsv1.DeviceRotationFailed, 1, nil, true))},
			want: rotationHistory{newest: "a", failedAttempts: 1, lastFailure: t0.Add(26 * time.Hour)},
		},
		"should forget failures healed by a later rotation": {
			updated: t0.Add(30 * time.Hour),
			reqs:    []lapsv1.RotationRequest{req("a", 0, lapsv1.RotationFailed, result(lapsv1.DeviceRotationFailed, 1, nil, true))},
			want:    rotationHistory{newest: "a"},
		},
		"should not count a result that rotated": {
			reqs: []lapsv1.RotationRequest{req("a", 0, lapsv1.RotationSucceeded, result(lapsv1.DeviceRotationRotated, 2, h(1), true))},
			want: rotationHistory{newest: "a"},
		},
		"should name the newest request and sort the active ones": {
			reqs: []lapsv1.RotationRequest{
				req("b", 5, lapsv1.RotationInProgress, result(lapsv1.DeviceRotationPending, 0, nil, false)),
				req("a", 7, lapsv1.RotationInProgress, result(lapsv1.DeviceRotationRequested, 1, nil, true)),
				req("old", 1, lapsv1.RotationSucceeded, result(lapsv1.DeviceRotationRotated, 1, nil, true)),
			},
			want: rotationHistory{active: []string{"a", "b"}, newest: "a"},
		},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			got := summarizeRotations("pc1", c.updated, c.reqs)
			if len(got.active) == 0 {
				got.active = nil
			}
			if got.newest != c.want.newest || got.failedAttempts != c.want.failedAttempts || !got.lastFailure.Equal(c.want.lastFailure) ||
				len(got.active) != len(c.want.active) {
				t.Fatalf("got %+v\nwant %+v", got, c.want)
			}
			for i := range got.active {
				if got.active[i] != c.want.active[i] {
					t.Fatalf("active %v, want %v", got.active, c.want.active)
				}
			}
		})
	}
}

func TestIndexByTargetDevice_CoversNameAndResults(t *testing.T) {
	q := &lapsv1.RotationRequest{}
	q.Spec.DeviceName = "pc1"
	q.Status.Results = []lapsv1.DeviceRotationResult{{Device: "pc1"}, {Device: "pc2"}}
	got := IndexByTargetDevice(q)
	if len(got) != 2 || got[0] != "pc1" || got[1] != "pc2" {
		t.Fatalf("%v", got)
	}
}

func TestSummarizeRotations_activeDeadline(t *testing.T) {
	spec := newRequest("a", "pc1", nil)
	spec.CreationTimestamp = metav1.NewTime(t0)
	spec.Spec.Deadline = &metav1.Time{Time: t0.Add(2 * time.Hour)}
	started := newRequest("b", "pc1", nil)
	started.CreationTimestamp = metav1.NewTime(t0)
	started.Status.StartTime = &metav1.Time{Time: t0.Add(time.Hour)}
	started.Status.Results = []lapsv1.DeviceRotationResult{{Device: "pc1", State: lapsv1.DeviceRotationRequested}}
	h := summarizeRotations("pc1", time.Time{}, []lapsv1.RotationRequest{*spec, *started})
	if want := t0.Add(time.Hour + DefaultRotationDeadline); !h.activeDeadline.Equal(want) {
		t.Errorf("activeDeadline = %v, want the latest deadline %v", h.activeDeadline, want)
	}
	h = summarizeRotations("pc1", time.Time{}, []lapsv1.RotationRequest{*spec})
	if want := t0.Add(2 * time.Hour); !h.activeDeadline.Equal(want) {
		t.Errorf("activeDeadline = %v, want spec.deadline %v", h.activeDeadline, want)
	}
}
