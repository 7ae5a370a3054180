package webhook

import (
	"context"
	"encoding/json"
	"testing"
	"unicode/utf8"

	jsonpatch "github.com/evanphx/json-patch/v5"
	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
)

var fuzzOps = []admissionv1.Operation{admissionv1.Create, admissionv1.Update, admissionv1.Delete, admissionv1.Connect}

// patched applies a response's JSON patches to raw.
func patched(t *testing.T, raw []byte, resp admission.Response) []byte {
	t.Helper()
	if len(resp.Patches) == 0 {
		return raw
	}
	ops, err := json.Marshal(resp.Patches)
	if err != nil {
		t.Fatal(err)
	}
	p, err := jsonpatch.DecodePatch(ops)
	if err != nil {
		t.Fatalf("undecodable patch %s: %v", ops, err)
	}
	out, err := p.Apply(raw)
	if err != nil {
		t.Fatalf("patch %s does not apply: %v", ops, err)
	}
	return out
}

// FuzzRequestedBy admits arbitrary RotationRequest bodies: no panic, and a created request
// that is allowed names exactly the authenticated user in spec.requestedBy.
func FuzzRequestedBy(f *testing.F) {
	f.Add([]byte(`{"apiVersion":"laps.fleetlaps.io/v1","kind":"RotationRequest","metadata":{"name":"r"},"spec":{"deviceName":"pc1","reason":"x"}}`), "alice", uint8(0))
	f.Add([]byte(`{"spec":{"requestedBy":"bob"}}`), "alice", uint8(0))
	f.Add([]byte(`{"spec":{"requestedBy":"alice"}}`), "alice", uint8(1))
	f.Add([]byte(`[]`), "", uint8(0))
	f.Fuzz(func(t *testing.T, raw []byte, user string, op uint8) {
		if !utf8.ValidString(user) {
			return // the apiserver sends the AdmissionReview as JSON: a user name is UTF-8
		}
		req := admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{Operation: fuzzOps[int(op)%len(fuzzOps)],
			UserInfo: authenticationv1.UserInfo{Username: user}, Object: runtime.RawExtension{Raw: raw}}}
		resp := RequestedBy{}.Handle(context.Background(), req)
		if !resp.Allowed || req.Operation != admissionv1.Create {
			return
		}
		var rr lapsv1.RotationRequest
		if err := json.Unmarshal(patched(t, raw, resp), &rr); err != nil {
			t.Fatalf("allowed an undecodable object: %v", err)
		}
		if user == "" || rr.Spec.RequestedBy != user {
			t.Fatalf("allowed with requestedBy %q for user %q", rr.Spec.RequestedBy, user)
		}
	})
}

// FuzzRotateRequester admits arbitrary ManagedDevice bodies: no panic, and an allowed change of
// the rotate-requested-at annotation records exactly the authenticated user.
func FuzzRotateRequester(f *testing.F) {
	at, by := lapsv1.AnnotationRotateRequestedAt, lapsv1.AnnotationRotateRequestedBy
	f.Add([]byte(`{"metadata":{"annotations":{"`+at+`":"2026-11-20T10:00:00Z"}}}`), []byte(`{"metadata":{}}`), "alice", uint8(1))
	f.Add([]byte(`{"metadata":{"annotations":{"`+at+`":"now","`+by+`":"bob"}}}`), []byte(`{}`), "alice", uint8(0))
	f.Add([]byte(`{"metadata":{"annotations":{"`+by+`":"mallory"}}}`), []byte(`{"metadata":{"annotations":{"`+by+`":"bob"}}}`), "mallory", uint8(1))
	f.Add([]byte(`{"metadata":{"annotations":7}}`), []byte(`null`), "", uint8(1))
	f.Fuzz(func(t *testing.T, raw, oldRaw []byte, user string, op uint8) {
		if !utf8.ValidString(user) {
			return // the apiserver sends the AdmissionReview as JSON: a user name is UTF-8
		}
		req := admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{Operation: fuzzOps[int(op)%len(fuzzOps)],
			UserInfo: authenticationv1.UserInfo{Username: user}, Object: runtime.RawExtension{Raw: raw}, OldObject: runtime.RawExtension{Raw: oldRaw}}}
		resp := RotateRequester{}.Handle(context.Background(), req)
		if !resp.Allowed || (req.Operation != admissionv1.Create && req.Operation != admissionv1.Update) {
			return
		}
		var obj, old map[string]any
		if err := json.Unmarshal(patched(t, raw, resp), &obj); err != nil {
			t.Fatalf("allowed an undecodable object: %v", err)
		}
		if req.Operation == admissionv1.Update {
			_ = json.Unmarshal(oldRaw, &old)
		}
		newAt, oldAt := annotation(obj, at), annotation(old, at)
		if newAt != "" && newAt != oldAt && (user == "" || annotation(obj, by) != user) {
			t.Fatalf("new rotation request allowed with requester %q for user %q", annotation(obj, by), user)
		}
		if (newAt == "" || newAt == oldAt) && annotation(obj, by) != annotation(old, by) && annotation(obj, by) != "" {
			t.Fatalf("requester changed on its own to %q", annotation(obj, by))
		}
	})
}
