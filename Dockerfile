# poolwatch_exporter, built the way the Prometheus exporters ship: a static binary on
# quay.io/prometheus/busybox, running as nobody, listening on its registered port.
#
#   make docker     (docker build with the version, revision and branch of the checkout)
#   docker run -p 9863:9863 poolwatch_exporter --cherrypy.scrape-uri=http://app:8081/cpstats/data
#
# The build context has no .git (.dockerignore), so the version information comes in as
# build arguments; `make docker` passes them. A plain `docker build .` stamps "dev".
ARG GO_VERSION=1.26
FROM golang:${GO_VERSION} AS build
WORKDIR /src
# Dependencies first, so that a source change does not download them again.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG REVISION=unknown
ARG BRANCH=unknown
ARG BUILD_DATE=unknown
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w \
        -X github.com/prometheus/common/version.Version=${VERSION} \
        -X github.com/prometheus/common/version.Revision=${REVISION} \
        -X github.com/prometheus/common/version.Branch=${BRANCH} \
        -X github.com/prometheus/common/version.BuildUser=docker \
        -X github.com/prometheus/common/version.BuildDate=${BUILD_DATE}" \
      -o /out/poolwatch_exporter ./cmd/poolwatch_exporter

FROM quay.io/prometheus/busybox:latest
LABEL org.opencontainers.image.title="poolwatch_exporter" \
      org.opencontainers.image.description="Worker-pool exhaustion metrics from CherryPy's cpstats" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /out/poolwatch_exporter /bin/poolwatch_exporter
EXPOSE 9863
USER nobody
ENTRYPOINT ["/bin/poolwatch_exporter"]
