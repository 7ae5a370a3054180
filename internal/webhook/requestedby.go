// Package webhook holds the admission webhooks: RotationRequest spec.requestedBy is recorded from
// the creating user's identity, never trusted from the user.
package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	admissionv1 "k8s.io/api/admission/v1"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
)

// RotationRequestPath is where the mutating webhook is served.
const RotationRequestPath = "/mutate-laps-fleetlaps-io-v1-rotationrequest"

// +kubebuilder:webhook:path=/mutate-laps-fleetlaps-io-v1-rotationrequest,mutating=true,failurePolicy=fail,sideEffects=None,groups=laps.fleetlaps.io,resources=rotationrequests,verbs=create,versions=v1,name=mrotationrequest.laps.fleetlaps.io,admissionReviewVersions=v1

// RequestedBy sets spec.requestedBy from req.UserInfo.Username on CREATE and rejects a
// user-supplied value that differs.
type RequestedBy struct{}

var _ admission.Handler = RequestedBy{}

// Handle implements admission.Handler.
func (RequestedBy) Handle(_ context.Context, req admission.Request) admission.Response {
	if req.Operation != admissionv1.Create {
		return admission.Allowed("")
	}
	var rr lapsv1.RotationRequest
	if err := json.Unmarshal(req.Object.Raw, &rr); err != nil {
		return admission.Errored(http.StatusBadRequest, err)
	}
	user := req.UserInfo.Username
	if user == "" {
		return admission.Denied("the request carries no user name; spec.requestedBy cannot be recorded")
	}
	switch rr.Spec.RequestedBy {
	case user:
		return admission.Allowed("spec.requestedBy matches the requesting user")
	case "":
		rr.Spec.RequestedBy = user
	default:
		return admission.Denied(fmt.Sprintf("spec.requestedBy: %q differs from the requesting user %q; leave it empty, it is recorded by admission", rr.Spec.RequestedBy, user))
	}
	patched, err := json.Marshal(&rr)
	if err != nil {
		return admission.Errored(http.StatusInternalServerError, err)
	}
	return admission.PatchResponseFromRaw(req.Object.Raw, patched)
}
