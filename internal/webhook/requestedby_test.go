package webhook

import (
	"context"
	"encoding/json"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
)

func request(t *testing.T, op admissionv1.Operation, user, requestedBy string) admission.Request {
	t.Helper()
	rr := lapsv1.RotationRequest{ObjectMeta: metav1.ObjectMeta{Name: "r", Namespace: "fleet"},
		Spec: lapsv1.RotationRequestSpec{DeviceName: "pc1", Reason: "x", RequestedBy: requestedBy}}
	raw, err := json.Marshal(&rr)
	if err != nil {
		t.Fatal(err)
	}
	return admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		Operation: op, UserInfo: authenticationv1.UserInfo{Username: user}, Object: runtime.RawExtension{Raw: raw},
	}}
}

func TestRequestedBy(t *testing.T) {
	cases := map[string]struct {
		op          admissionv1.Operation
		user, given string
		wantAllowed bool
		wantPatch   bool
	}{
		"should record the creating user":               {op: admissionv1.Create, user: "alice", wantAllowed: true, wantPatch: true},
		"should accept the creating user's own name":    {op: admissionv1.Create, user: "alice", given: "alice", wantAllowed: true},
		"should reject a differing user-supplied value": {op: admissionv1.Create, user: "alice", given: "bob"},
		"should leave updates to the immutability rule": {op: admissionv1.Update, user: "alice", given: "bob", wantAllowed: true},
		"should reject a request without a user name":   {op: admissionv1.Create},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			res := RequestedBy{}.Handle(context.Background(), request(t, tc.op, tc.user, tc.given))
			if res.Allowed != tc.wantAllowed {
				t.Fatalf("allowed = %v (%v)", res.Allowed, res.Result)
			}
			if got := len(res.Patches) > 0; got != tc.wantPatch {
				t.Fatalf("patches = %+v", res.Patches)
			}
			if tc.wantPatch && (res.Patches[0].Path != "/spec/requestedBy" || res.Patches[0].Value != tc.user) {
				t.Fatalf("patch %+v", res.Patches[0])
			}
		})
	}
}
