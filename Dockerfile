# syntax=docker/dockerfile:1
# Static, non-root semvec-go image. It runs as distroless's `nonroot` user
# (uid/gid 65532): whatever is mounted into it (the licence public key) must
# be readable by that user, and /data (the working directory, where a SQLite
# database would go) belongs to it.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X github.com/semvec-go/semvec.Version=${VERSION}" -o /out/semvec ./cmd/semvec \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/semvec /semvec
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
WORKDIR /data
EXPOSE 8080
ENTRYPOINT ["/semvec"]
# A container must listen on every interface to be reachable through its
# published port; outside a container the default is 127.0.0.1 when no
# licence key is configured (development mode).
CMD ["serve", "--host", "0.0.0.0", "--port", "8080"]
