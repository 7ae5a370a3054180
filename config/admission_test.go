package config_test

import (
	"slices"
	"testing"
)

func TestDefault_AdmissionPoliciesAreBoundAndTheWebhookPortIsOpen(t *testing.T) {
	m := build(t, "default")
	policies := map[string]bool{}
	var bindings []map[string]any
	var webhookPortOpen bool
	for _, r := range m.Resources() {
		obj, err := r.Map()
		if err != nil {
			t.Fatal(err)
		}
		switch r.GetKind() {
		case "ValidatingAdmissionPolicy":
			policies[r.GetName()] = true
		case "ValidatingAdmissionPolicyBinding":
			bindings = append(bindings, obj)
		case "NetworkPolicy":
			for _, in := range obj["spec"].(map[string]any)["ingress"].([]any) {
				rule := in.(map[string]any)
				for _, p := range rule["ports"].([]any) {
					if port := p.(map[string]any)["port"]; port == 9443 || port == int64(9443) || port == float64(9443) {
						// The apiserver's address is outside any selector: no from clause.
						webhookPortOpen = webhookPortOpen || rule["from"] == nil
					}
				}
			}
		}
	}
	for _, want := range []string{"fleetlaps-rotationrequest-requested-by", "fleetlaps-manageddevice-rotate-requested-by"} {
		if !policies[want] {
			t.Errorf("policy %s missing; have %v", want, policies)
		}
	}
	var bound []string
	for _, b := range bindings {
		spec := b["spec"].(map[string]any)
		name := spec["policyName"].(string)
		if !policies[name] {
			t.Errorf("binding refers to policy %q, which the build does not contain", name)
		}
		if !slices.Contains(spec["validationActions"].([]any), any("Deny")) {
			t.Errorf("binding of %s does not deny: %v", name, spec["validationActions"])
		}
		bound = append(bound, name)
	}
	if len(bound) != len(policies) {
		t.Errorf("bound %v of %v", bound, policies)
	}
	if !webhookPortOpen {
		t.Error("no NetworkPolicy admits the webhook port 9443 from the apiserver")
	}
}
