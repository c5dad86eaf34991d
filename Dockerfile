# kubetrail agent image: a static binary on distroless, running as non-root
# with a read-only root filesystem (see deploy/daemonset).
#
#   docker build -t kubetrail/agent:dev .
#
# Without a Docker engine: test/image/build-oci.sh OUT.tar builds the same
# image with buildah (from scratch: the binary is static) as an OCI archive;
# test/image checks it and runs the binary as 65532 with only its capability.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/agent ./cmd/agent
# kube-apiserver writes its audit log 0600 root:root. Rather than running as
# root, the binary carries one file capability, CAP_DAC_READ_SEARCH (read any
# file, nothing else), which the DaemonSet allows and nothing more.
# COPY --from must keep the security.capability xattr: BuildKit does, older
# builders dropped it (moby/moby#38132); check with getcap on the image.
RUN apt-get update && apt-get install -y --no-install-recommends libcap2-bin \
 && setcap cap_dac_read_search=+ep /out/agent

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/agent /usr/local/bin/agent
COPY deploy/daemonset/base/agent.yaml /etc/kubetrail/agent.yaml
USER 65532:65532
EXPOSE 9108
ENTRYPOINT ["/usr/local/bin/agent"]
CMD ["run", "-c", "/etc/kubetrail/agent.yaml"]
