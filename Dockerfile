# ferry: a static binary on a distroless base, running as non-root (65532).
#   docker build -t ghcr.io/ferry-dev/ferry:dev --build-arg VERSION=dev .
FROM golang:1.26.8 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/ferry ./cmd/ferry

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/ferry /ferry
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/ferry"]
CMD ["run", "--listen=:8080"]
