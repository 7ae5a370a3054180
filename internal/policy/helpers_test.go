package policy_test

import (
	"sort"

	"k8s.io/apimachinery/pkg/labels"
)

func labelSet(m map[string]string) labels.Set { return labels.Set(m) }

func sortStrings(s []string) { sort.Strings(s) }
