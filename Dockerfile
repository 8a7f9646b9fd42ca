# syntax=docker/dockerfile:1
# Multi-stage build: static binaries on a distroless base (about 25 MB).
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=0.1.0
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X github.com/webhookd/webhookd/wiring.Version=${VERSION}" \
      -o /out/dispatcher ./cmd/dispatcher && \
    CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /out/mock-receiver ./cmd/mock-receiver && \
    mkdir -p /out/logs /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/dispatcher /out/mock-receiver /usr/local/bin/
# The logs volume is seeded from this directory, so nonroot can write to it;
# so is /app/data, where the SQLite store lives when DATABASE_URL is unset
# (mount a volume there to keep it; compose uses PostgreSQL instead).
COPY --from=build --chown=65532:65532 /out/logs /app/logs
COPY --from=build --chown=65532:65532 /out/data /app/data
WORKDIR /app
USER nonroot:nonroot
EXPOSE 3000 3001
ENTRYPOINT ["/usr/local/bin/dispatcher"]
