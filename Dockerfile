# The connected build: a static manager binary on distroless/static:nonroot (pulls golang and the
# base image from their registries). Sites without a registry build the same image with
# hack/image/build.sh: the binary built on the host, FROM scratch with the host's CA bundle and the
# same non-root user 65532 (hack/image/Containerfile), nothing pulled. Both images have /manager as
# entrypoint, /etc/ssl/certs/ca-certificates.crt, user 65532:65532 and no shell; test/image checks
# the air-gapped one against a real apiserver.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG TARGETOS=linux
ARG TARGETARCH=amd64
RUN CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH go build -trimpath -ldflags "-s -w" -o /out/manager ./cmd/manager

FROM gcr.io/distroless/static:nonroot
WORKDIR /
COPY --from=build /out/manager /manager
USER 65532:65532
ENTRYPOINT ["/manager"]
