# syntax=docker/dockerfile:1
# Static, non-root semvec-go image.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X github.com/semvec-go/semvec.Version=${VERSION}" -o /out/semvec ./cmd/semvec

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/semvec /semvec
USER nonroot:nonroot
WORKDIR /data
EXPOSE 8080
ENTRYPOINT ["/semvec"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8080"]
