package policy_test

import (
	"context"
	"os"
	"strings"
	"testing"

	apiextensions "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	structuraldefaulting "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"
	structurallisttype "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/listtype"
	apiservervalidation "k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"sigs.k8s.io/yaml"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
	"github.com/fleetlaps/fleetlaps/internal/policy"
	"github.com/fleetlaps/fleetlaps/internal/policy/policytest"
)

// crdValidator runs the generated CRD's admission checks in process, as the apiserver does for a
// create: structural defaulting, OpenAPI schema validation, list-type (set) uniqueness and the CEL
// x-kubernetes-validations. The envtest API tests run the same table against a real apiserver.
type crdValidator struct {
	structural *structuralschema.Structural
	schema     apiservervalidation.SchemaValidator
	cel        *cel.Validator
}

func loadCRD(t *testing.T) *crdValidator {
	t.Helper()
	raw, err := os.ReadFile("../../config/crd/bases/laps.fleetlaps.io_lapspolicies.yaml")
	if err != nil {
		t.Fatalf("read CRD: %v", err)
	}
	var crd apiextensionsv1.CustomResourceDefinition
	if err := yaml.UnmarshalStrict(raw, &crd); err != nil {
		t.Fatalf("decode CRD: %v", err)
	}
	var internal apiextensions.JSONSchemaProps
	if err := apiextensionsv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(crd.Spec.Versions[0].Schema.OpenAPIV3Schema, &internal, nil); err != nil {
		t.Fatalf("convert schema: %v", err)
	}
	s, err := structuralschema.NewStructural(&internal)
	if err != nil {
		t.Fatalf("structural schema: %v", err)
	}
	sv, _, err := apiservervalidation.NewSchemaValidator(&internal)
	if err != nil {
		t.Fatalf("schema validator: %v", err)
	}
	return &crdValidator{structural: s, schema: sv, cel: cel.NewValidator(s, true, celconfig.PerCallLimit)}
}

func (v *crdValidator) validate(t *testing.T, spec lapsv1.LapsPolicySpec) field.ErrorList {
	t.Helper()
	p := &lapsv1.LapsPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: lapsv1.GroupVersion.String(), Kind: "LapsPolicy"},
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns"},
		Spec:       spec,
	}
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(p)
	if err != nil {
		t.Fatalf("to unstructured: %v", err)
	}
	delete(obj, "status") // the create body has no status
	structuraldefaulting.Default(obj, v.structural)
	errs := apiservervalidation.ValidateCustomResource(nil, obj, v.schema)
	errs = append(errs, structurallisttype.ValidateListSetsAndMaps(nil, v.structural, obj)...)
	celErrs, _ := v.cel.Validate(context.Background(), nil, v.structural, obj, nil, celconfig.RuntimeCELCostBudget)
	return append(errs, celErrs...)
}

func TestValidate_AgreesWithCRD(t *testing.T) {
	crd := loadCRD(t)
	for _, tc := range policytest.AdmissionCases {
		t.Run(tc.Name, func(t *testing.T) {
			spec := tc.Spec
			goErrs := policy.Validate(&spec)
			crdErrs := crd.validate(t, tc.Spec)

			if got := len(goErrs) == 0; got != tc.Valid {
				t.Errorf("policy.Validate: valid=%v, want %v; errors: %v", got, tc.Valid, goErrs)
			}
			wantCRD := tc.Valid || tc.GoOnly
			if got := len(crdErrs) == 0; got != wantCRD {
				t.Errorf("CRD admission: valid=%v, want %v; errors: %v", got, wantCRD, crdErrs)
			}
			if tc.Valid {
				return
			}
			if tc.FieldContains == "" {
				t.Fatal("invalid case without FieldContains")
			}
			if !strings.Contains(goErrs.ToAggregate().Error(), tc.FieldContains) {
				t.Errorf("policy.Validate errors %q do not mention %q", goErrs.ToAggregate().Error(), tc.FieldContains)
			}
			if !tc.GoOnly && !strings.Contains(crdErrs.ToAggregate().Error(), tc.FieldContains) {
				t.Errorf("CRD errors %q do not mention %q", crdErrs.ToAggregate().Error(), tc.FieldContains)
			}
		})
	}
}
