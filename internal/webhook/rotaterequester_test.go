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

func deviceJSON(t *testing.T, at, by string) []byte {
	t.Helper()
	d := lapsv1.ManagedDevice{ObjectMeta: metav1.ObjectMeta{Name: "pc1", Namespace: "fleet", Annotations: map[string]string{"keep": "me"}}}
	if at != "" {
		d.Annotations[lapsv1.AnnotationRotateRequestedAt] = at
	}
	if by != "" {
		d.Annotations[lapsv1.AnnotationRotateRequestedBy] = by
	}
	raw, err := json.Marshal(&d)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestRotateRequester(t *testing.T) {
	type state struct{ at, by string }
	cases := map[string]struct {
		op       admissionv1.Operation
		old, new state
		user     string
		allowed  bool
		wantBy   string // the patched requester; "" means no patch
	}{
		"a new annotation records the user":                    {op: admissionv1.Update, new: state{at: "t1"}, user: "alice", allowed: true, wantBy: "alice"},
		"on create too":                                        {op: admissionv1.Create, new: state{at: "t1"}, user: "alice", allowed: true, wantBy: "alice"},
		"a repeated value replaces the previous requester":     {op: admissionv1.Update, old: state{"t1", "alice"}, new: state{"t2", "alice"}, user: "bob", allowed: true, wantBy: "bob"},
		"the user's own name is accepted":                      {op: admissionv1.Update, new: state{"t1", "alice"}, user: "alice", allowed: true},
		"a forged requester is refused":                        {op: admissionv1.Update, new: state{"t1", "carol"}, user: "alice"},
		"changing only the requester is refused":               {op: admissionv1.Update, old: state{"t1", "alice"}, new: state{"t1", "mallory"}, user: "mallory"},
		"adding only a requester is refused":                   {op: admissionv1.Create, new: state{by: "alice"}, user: "alice"},
		"unrelated updates keep the requester":                 {op: admissionv1.Update, old: state{"t1", "alice"}, new: state{"t1", "alice"}, user: "argocd", allowed: true},
		"removing both annotations is allowed":                 {op: admissionv1.Update, old: state{"t1", "alice"}, new: state{}, user: "bob", allowed: true},
		"a new value without an authenticated user is refused": {op: admissionv1.Update, new: state{at: "t1"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			req := admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
				Operation: tc.op, UserInfo: authenticationv1.UserInfo{Username: tc.user},
				Object: runtime.RawExtension{Raw: deviceJSON(t, tc.new.at, tc.new.by)},
			}}
			if tc.op == admissionv1.Update {
				req.OldObject = runtime.RawExtension{Raw: deviceJSON(t, tc.old.at, tc.old.by)}
			}
			res := RotateRequester{}.Handle(context.Background(), req)
			if res.Allowed != tc.allowed {
				t.Fatalf("allowed = %v (%v)", res.Allowed, res.Result)
			}
			if tc.wantBy == "" {
				if len(res.Patches) != 0 {
					t.Fatalf("patches %+v", res.Patches)
				}
				return
			}
			if len(res.Patches) != 1 || (res.Patches[0].Operation != "add" && res.Patches[0].Operation != "replace") || res.Patches[0].Value != tc.wantBy {
				t.Fatalf("patches %+v, want the requester %s added", res.Patches, tc.wantBy)
			}
		})
	}
}
