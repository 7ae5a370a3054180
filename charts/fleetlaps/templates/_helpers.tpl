{{/* Release-scoped name prefix: "fleetlaps-" for a release named fleetlaps, as config/default's
namePrefix. */}}
{{- define "fleetlaps.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "fleetlaps.prefix" -}}
{{- include "fleetlaps.fullname" . -}}-
{{- end -}}

{{- define "fleetlaps.labels" -}}
app.kubernetes.io/name: fleetlaps
app.kubernetes.io/instance: {{ .Release.Name | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | quote }}
{{- end -}}

{{/* Kinds that have no namespace. */}}
{{- define "fleetlaps.clusterKinds" -}}
ClusterRole ClusterRoleBinding CustomResourceDefinition MutatingWebhookConfiguration ValidatingWebhookConfiguration ValidatingAdmissionPolicy ValidatingAdmissionPolicyBinding Namespace
{{- end -}}

{{/* The objects of a config/ kustomize directory, in the order of its kustomization's
resources, skipping the files in "skip". Returns {"objects": [...]} as YAML. */}}
{{- define "fleetlaps.configObjects" -}}
{{- $root := .root -}}
{{- $kust := $root.Files.Get (printf "files/%s/kustomization.yaml" .dir) | fromYaml -}}
{{- $objects := list -}}
{{- range $kust.resources -}}
{{- if not (has . ($.skip | default list)) -}}
{{- range regexSplit "(?m)^---[ \t]*$" ($root.Files.Get (printf "files/%s/%s" $.dir .)) -1 -}}
{{- $o := fromYaml . -}}
{{- if and $o $o.kind -}}
{{- $objects = append $objects $o -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- dict "objects" $objects | toYaml -}}
{{- end -}}

{{/* Does to one object of config/ what config/default's kustomization does: the release's name
prefix, the release namespace, the common labels, and the references between objects (role
bindings, service account subjects, webhook services, admission policy bindings). Mutates .obj. */}}
{{- define "fleetlaps.adopt" -}}
{{- $root := .root -}}
{{- $o := .obj -}}
{{- $p := include "fleetlaps.prefix" $root -}}
{{- $ns := $root.Release.Namespace -}}
{{- $md := $o.metadata -}}
{{- $_ := set $md "name" (printf "%s%s" $p $md.name) -}}
{{- if has $o.kind (splitList " " (include "fleetlaps.clusterKinds" $root)) -}}
{{- $_ := unset $md "namespace" -}}
{{- else -}}
{{- $_ := set $md "namespace" $ns -}}
{{- end -}}
{{- $_ := set $md "labels" (merge ($md.labels | default dict) (include "fleetlaps.labels" $root | fromYaml)) -}}
{{- with $o.roleRef -}}
{{- $_ := set . "name" (printf "%s%s" $p .name) -}}
{{- end -}}
{{- range $o.subjects -}}
{{- if eq .kind "ServiceAccount" -}}
{{- $_ := set . "name" (printf "%s%s" $p .name) -}}
{{- $_ := set . "namespace" $ns -}}
{{- end -}}
{{- end -}}
{{- if and (eq $o.kind "ValidatingAdmissionPolicyBinding") $o.spec.policyName -}}
{{- $_ := set $o.spec "policyName" (printf "%s%s" $p $o.spec.policyName) -}}
{{- end -}}
{{- range $o.webhooks -}}
{{- with .clientConfig.service -}}
{{- $_ := set . "name" (printf "%s%s" $p .name) -}}
{{- $_ := set . "namespace" $ns -}}
{{- end -}}
{{- end -}}
{{- if eq $o.kind "Certificate" -}}
{{- $names := list -}}
{{- range $o.spec.dnsNames -}}
{{- $names = append $names (printf "%s%s" $p (. | replace ".fleetlaps-system." (printf ".%s." $ns) | trimPrefix "fleetlaps-")) -}}
{{- end -}}
{{- $_ := set $o.spec "dnsNames" $names -}}
{{- $_ := set $o.spec.issuerRef "name" (printf "%s%s" $p $o.spec.issuerRef.name) -}}
{{- end -}}
{{- end -}}

{{/* Renders the objects of a config/ directory, adopted. */}}
{{- define "fleetlaps.renderConfig" -}}
{{- range (include "fleetlaps.configObjects" . | fromYaml).objects }}
{{- include "fleetlaps.adopt" (dict "root" $.root "obj" .) }}
---
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Strategic merge of one named list, as kustomize patches: items of "patch" replace the items
of "base" with the same value at "key"; the other patch items come first, as kustomize puts them. */}}
{{- define "fleetlaps.mergeList" -}}
{{- $out := list -}}
{{- range .patch -}}
{{- $item := . -}}
{{- $found := false -}}
{{- range $.base -}}
{{- if eq (get . $.key | toString) (get $item $.key | toString) -}}
{{- $found = true -}}
{{- end -}}
{{- end -}}
{{- if not $found -}}
{{- $out = append $out $item -}}
{{- end -}}
{{- end -}}
{{- range .base -}}
{{- $item := . -}}
{{- range $.patch -}}
{{- if eq (get . $.key | toString) (get $item $.key | toString) -}}
{{- $item = . -}}
{{- end -}}
{{- end -}}
{{- $out = append $out $item -}}
{{- end -}}
{{- dict "items" $out | toYaml -}}
{{- end -}}
