package policy

import (
	"regexp"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
	"github.com/fleetlaps/fleetlaps/internal/dn"
)

var (
	gpoTargetStart = regexp.MustCompile(`^(?i)\s*(ou|dc)\s*=`)
	controlChars   = regexp.MustCompile(`[\x00-\x1f\x7f]`)
)

// validateGroupPolicy is the CRD's groupPolicy schema and CEL rules, plus what CEL cannot say: a
// target must parse as a distinguished name, and two targets must not name the same object in
// different spelling (the apiserver's map key compares them as plain strings).
func validateGroupPolicy(p *field.Path, g *lapsv1.GroupPolicySettings) field.ErrorList {
	var errs field.ErrorList
	if g.DisplayName != "" {
		errs = append(errs, length(p.Child("displayName"), g.DisplayName, 1, 200)...)
		if controlChars.MatchString(g.DisplayName) {
			errs = append(errs, field.Invalid(p.Child("displayName"), g.DisplayName, msgGPODisplayName))
		}
	}
	lp := p.Child("links")
	if len(g.Links) > 64 {
		errs = append(errs, field.TooMany(lp, len(g.Links), 64))
	}
	for i, l := range g.Links {
		tp := lp.Index(i).Child("target")
		if lerrs := length(tp, l.Target, 4, 2048); len(lerrs) > 0 {
			errs = append(errs, lerrs...)
			continue
		}
		if !gpoTargetStart.MatchString(l.Target) || controlChars.MatchString(l.Target) {
			errs = append(errs, field.Invalid(tp, l.Target, msgGPOTarget))
			continue
		}
		if _, err := dn.Parse(l.Target); err != nil {
			errs = append(errs, field.Invalid(tp, l.Target, "is not a distinguished name: "+strings.TrimPrefix(err.Error(), "distinguished name ")))
			continue
		}
		for j := range i {
			if dn.Equal(g.Links[j].Target, l.Target) {
				errs = append(errs, field.Duplicate(tp, l.Target))
				break
			}
		}
	}
	return errs
}
