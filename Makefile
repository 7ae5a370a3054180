# fleetlaps: see README.md. `make test` and `make demo` are the two entry points.
SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec

CONTROLLER_GEN ?= go tool controller-gen
# staticcheck, pinned in go.mod's tool block (go get -tool honnef.co/go/tools/cmd/staticcheck@VERSION).
STATICCHECK ?= go tool staticcheck
GO_TEST_FLAGS ?= -count=1
# Generated files that `make verify` keeps in step with the sources.
GENERATED := api config/crd config/rbac config/webhook

.PHONY: all
all: build

##@ Development

.PHONY: generate
generate: ## Generate DeepCopy methods from the API types.
	$(CONTROLLER_GEN) object:headerFile=hack/boilerplate.go.txt paths=./api/...

.PHONY: manifests
manifests: ## Generate CRDs, RBAC and webhook manifests from markers.
	$(CONTROLLER_GEN) crd rbac:roleName=manager-role webhook paths=./... \
		output:crd:artifacts:config=config/crd/bases \
		output:rbac:artifacts:config=config/rbac \
		output:webhook:artifacts:config=config/webhook

.PHONY: fmt
fmt: ## gofmt the tree.
	gofmt -w $$(git ls-files '*.go')

.PHONY: vet
vet: ## go vet.
	go vet ./...

.PHONY: verify
verify: generate manifests ## Fail when generated files are stale or gofmt, vet or staticcheck complain.
	@stale=$$(git status --porcelain -- $(GENERATED)); \
	if [ -n "$$stale" ]; then echo "generated files are stale; run 'make generate manifests' and commit:"; echo "$$stale"; git --no-pager diff --stat -- $(GENERATED); exit 1; fi
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	go vet ./...
	@# The endpoint agent must build for Windows; its Windows collection is vetted there (the
	@# command's tests need envtest, which does not build for Windows).
	GOOS=windows GOARCH=amd64 CGO_ENABLED=0 go build -o /dev/null ./cmd/fleetlaps-agent
	GOOS=windows GOARCH=amd64 CGO_ENABLED=0 go vet ./internal/agent
	$(STATICCHECK) ./...

.PHONY: envtest
envtest: ## Build kube-apiserver and etcd from source (cached in bin/k8s/).
	hack/envtest-assets.sh

.PHONY: packages
packages: ## Install the Debian packages the tests need and the machine lacks (apt-get as root or through sudo).
	hack/install-packages.sh

.PHONY: test
test: packages ## Run every test: unit, envtest (real kube-apiserver), Samba AD DC integration.
	@$(MAKE) --no-print-directory verify
	@assets=$$(hack/envtest-assets.sh | tail -1); \
	echo "KUBEBUILDER_ASSETS=$$assets"; \
	KUBEBUILDER_ASSETS=$$assets go test $(GO_TEST_FLAGS) ./...
	@$(MAKE) --no-print-directory fuzz

# Every fuzz target (package:Target), each run for FUZZTIME on its seed corpus plus what it
# generates. FUZZTIME counts executions (a second or two each here): a duration also bounds the
# baseline pass over the cached corpus, which fails with "context deadline exceeded" once that
# corpus outgrows it on a busy machine. Inputs it finds failing land in the package's testdata/fuzz/ (commit those small
# files as regression seeds); the generated corpus stays in the Go build cache. A TestMain that
# starts a server skips it when testenv.FuzzingOnly() (fuzz workers run TestMain too).
FUZZTIME ?= 5000x
FUZZ_TARGETS := \
	./internal/adsyntax:FuzzParseFiletime \
	./internal/adsyntax:FuzzParseGUID \
	./internal/adsyntax:FuzzParseSID \
	./internal/adsyntax:FuzzParseEncryptedPasswordHeader \
	./internal/directory:FuzzCompact \
	./internal/directory/ad:FuzzParseReplPropertyMetaData \
	./internal/directory/ad:FuzzParseEntry \
	./internal/directory/ad:FuzzOpenFromSettings \
	./internal/directoryconfig:FuzzParse \
	./internal/dn:FuzzWithin \
	./internal/ldapserver:FuzzFilter \
	./internal/render:FuzzParseRegistryPol \
	./internal/render:FuzzRenderStrings \
	./internal/report:FuzzDecode \
	./internal/schedule:FuzzNextAttention \
	./internal/schedule:FuzzWindowAt \
	./internal/schedule:FuzzNextWrite \
	./internal/webhook:FuzzRequestedBy \
	./internal/webhook:FuzzRotateRequester

.PHONY: fuzz
fuzz: ## Run every fuzz target for FUZZTIME (default 5000 executions each).
	@assets=$$(hack/envtest-assets.sh | tail -1); log=$$(mktemp); trap 'rm -f $$log' EXIT; \
	for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; echo "fuzz $$name ($$pkg, $(FUZZTIME))"; \
		KUBEBUILDER_ASSETS=$$assets go test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) $$pkg >$$log 2>&1 || { cat $$log; exit 1; }; \
	done

# Fleet sizes of the whole-system benchmark (cmd/demo --bench): one table per size, each figure
# next to its target and anchor. Each size runs in its own process: a Samba AD DC with N
# computers (loaded once per machine into bin/samba), then the embedded directory, kube-apiserver,
# etcd, the manager and N simulated devices and agents. 100000 takes about 40 minutes on 2 cores.
BENCH_SIZES ?= 1000,10000,100000
BENCH_FLAGS ?=

.PHONY: bench
bench: ## Run the whole-system benchmark at BENCH_SIZES devices and print one table per size.
	@hack/install-packages.sh hack/samba/packages.txt hack/demo-packages.txt
	@assets=$$(hack/envtest-assets.sh | tail -1); \
	go run ./cmd/demo --assets "$$assets" --bench $(BENCH_SIZES) $(BENCH_FLAGS)

.PHONY: bench-go
bench-go: ## Run the Go benchmarks once each; Manager100k (15 min) alone: go test ./controllers -run '^$$' -bench Manager100k -benchmem -benchtime 1x -timeout 45m
	@assets=$$(hack/envtest-assets.sh | tail -1); \
	KUBEBUILDER_ASSETS=$$assets go test -run '^$$' -bench . -skip Manager100k -benchmem -benchtime=1x ./...

##@ Build

.PHONY: build
build: ## Build the manager, the kubectl plugin and the Windows agent into bin/.
	CGO_ENABLED=0 go build -trimpath -o bin/manager ./cmd/manager
	@if [ -d cmd/kubectl-laps ]; then CGO_ENABLED=0 go build -trimpath -o bin/kubectl-laps ./cmd/kubectl-laps; fi
	GOOS=windows GOARCH=amd64 CGO_ENABLED=0 go build -trimpath -o bin/fleetlaps-agent.exe ./cmd/fleetlaps-agent

.PHONY: image
image: ## Build the manager image without a registry (buildah, FROM scratch) as localhost/fleetlaps/manager:dev.
	hack/image/build.sh

.PHONY: image-test
image-test: ## Build the image, run it with podman against envtest, check non-root and health (also part of `make test`).
	@assets=$$(hack/envtest-assets.sh | tail -1); \
	KUBEBUILDER_ASSETS=$$assets go test $(GO_TEST_FLAGS) -v ./test/image/

.PHONY: chart-test
chart-test: ## Render the Helm chart (default and non-default values), lint it, dry-run it on envtest, compare with config/default (also part of `make test`).
	@assets=$$(hack/envtest-assets.sh | tail -1); \
	KUBEBUILDER_ASSETS=$$assets go test $(GO_TEST_FLAGS) -v ./charts/

.PHONY: demo
demo: ## Run the whole system locally (see README).
	@hack/install-packages.sh hack/demo-packages.txt
	hack/demo.sh

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z_-]+:.*?##/ { printf "  %-12s %s\n", $$1, $$2 } /^##@/ { printf "\n%s\n", substr($$0, 5) }' $(MAKEFILE_LIST)

# Samba AD DC harness targets (samba-up, samba-down).
-include hack/samba/samba.mk
