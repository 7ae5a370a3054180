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

// ManagedDevicePath is where the ManagedDevice mutating webhook is served.
const ManagedDevicePath = "/mutate-laps-fleetlaps-io-v1-manageddevice"

// Only objects carrying the rotate annotation are sent to the webhook, so ManagedDevice writes
// (discovery, GitOps) do not depend on the manager being up; the ValidatingAdmissionPolicy
// refuses a requester set without the annotation.
// +kubebuilder:webhook:path=/mutate-laps-fleetlaps-io-v1-manageddevice,mutating=true,failurePolicy=fail,sideEffects=None,groups=laps.fleetlaps.io,resources=manageddevices,verbs=create;update,versions=v1,name=mmanageddevice.laps.fleetlaps.io,admissionReviewVersions=v1,patch=`{"matchConditions":[{"name":"rotate-annotation","expression":"has(object.metadata.annotations) && 'laps.fleetlaps.io/rotate-requested-at' in object.metadata.annotations"}]}`

// RotateRequester records who asked for a rotation through the rotate-requested-at annotation:
// when that annotation gets a new value, rotate-requested-by is set to the authenticated user
// making the change. Any other change of rotate-requested-by is refused, so the RotationRequest
// the controller makes for the annotation names a person the apiserver authenticated.
// managedFields cannot serve: any client may write them.
type RotateRequester struct{}

var _ admission.Handler = RotateRequester{}

// Handle implements admission.Handler.
func (RotateRequester) Handle(_ context.Context, req admission.Request) admission.Response {
	if req.Operation != admissionv1.Create && req.Operation != admissionv1.Update {
		return admission.Allowed("")
	}
	var obj map[string]any
	if err := json.Unmarshal(req.Object.Raw, &obj); err != nil {
		return admission.Errored(http.StatusBadRequest, err)
	}
	var oldAt, oldBy string
	if req.Operation == admissionv1.Update {
		var old map[string]any
		if err := json.Unmarshal(req.OldObject.Raw, &old); err != nil {
			return admission.Errored(http.StatusBadRequest, err)
		}
		oldAt, oldBy = annotation(old, lapsv1.AnnotationRotateRequestedAt), annotation(old, lapsv1.AnnotationRotateRequestedBy)
	}
	at, by := annotation(obj, lapsv1.AnnotationRotateRequestedAt), annotation(obj, lapsv1.AnnotationRotateRequestedBy)
	user := req.UserInfo.Username
	if at == "" || at == oldAt {
		// No new request: the recorded requester stays as it was (or is removed).
		if by != oldBy && by != "" {
			return admission.Denied(fmt.Sprintf("annotation %s is recorded by admission when %s changes; it cannot be set or changed on its own",
				lapsv1.AnnotationRotateRequestedBy, lapsv1.AnnotationRotateRequestedAt))
		}
		return admission.Allowed("")
	}
	if user == "" {
		return admission.Denied(fmt.Sprintf("the request carries no user name; %s cannot be recorded", lapsv1.AnnotationRotateRequestedBy))
	}
	if by == user {
		return admission.Allowed("the requester matches the requesting user")
	}
	if by != "" && by != oldBy {
		return admission.Denied(fmt.Sprintf("annotation %s: %q differs from the requesting user %q; leave it out, it is recorded by admission",
			lapsv1.AnnotationRotateRequestedBy, by, user))
	}
	meta, _ := obj["metadata"].(map[string]any)
	annotations, _ := meta["annotations"].(map[string]any)
	annotations[lapsv1.AnnotationRotateRequestedBy] = user
	patched, err := json.Marshal(obj)
	if err != nil {
		return admission.Errored(http.StatusInternalServerError, err)
	}
	return admission.PatchResponseFromRaw(req.Object.Raw, patched)
}

func annotation(obj map[string]any, key string) string {
	meta, _ := obj["metadata"].(map[string]any)
	annotations, _ := meta["annotations"].(map[string]any)
	v, _ := annotations[key].(string)
	return v
}
