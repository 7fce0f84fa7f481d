#!/usr/bin/env bash
# Build and install the real Pulumi engine for the real-engine tests, from the Go module proxy.
#
# Installs into $PULUMI_INSTALL_DIR (default /usr/local/bin when writable, else ~/.local/bin):
#   pulumi                         the CLI, module github.com/pulumi/pulumi/pkg/v3 at $PULUMI_VERSION,
#                                  built through tools/pulumi-engine (a wrapper module: the CLI's own
#                                  go.mod replaces the SDK with a local path, so `go install` refuses it)
#   pulumi-language-python         this project's language host (tools/pulumi-engine/cmd/...): Pulumi's
#                                  own module sdk/python/cmd/pulumi-language-python/v3 is not served by
#                                  the module proxy here (403 for every version and pseudo-version)
#   pulumi-language-python-exec    the SDK's program runner  } from the sdk/v3 module at the same
#   pulumi-resource-pulumi-python  the dynamic-provider shim  } release (the module cache drops +x)
#   pulumi-resource-kubernetes     pulumi-kubernetes' provider, only with WITH_KUBERNETES_PROVIDER=1
#                                  (an unfinished attempt: no test uses it yet; see below)
#
# Does nothing when the right versions are already installed. Go's module and build caches
# (go env GOMODCACHE / GOCACHE) are kept, so a rerun after a change takes seconds.
# Env: PULUMI_VERSION (default: the one tools/pulumi-engine/go.mod pins), PULUMI_INSTALL_DIR,
#      WITH_KUBERNETES_PROVIDER=1.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
MODULE="$ROOT/tools/pulumi-engine"
PULUMI_VERSION="${PULUMI_VERSION:-$(sed -n 's#^\tgithub.com/pulumi/pulumi/pkg/v3 v\([0-9.]*\)$#\1#p' "$MODULE/go.mod")}"
VERSION_FLAG="-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$PULUMI_VERSION"
# pulumi-kubernetes: the module proxy serves provider/v4 only at this commit (Jan 2026; the pinned
# Python SDK's 4.34.2 and sdk/v4 4.34.2 answer 403). The provider binary is found on PATH whatever
# its version.
K8S_PROVIDER_VERSION="${K8S_PROVIDER_VERSION:-v4.0.0-20260115033456-f47bc2d6f199}"
K8S_SDK_VERSION="${K8S_SDK_VERSION:-v4.24.0}"
K8S_REPORTED_VERSION="4.0.0-f47bc2d6f199"

log() { printf '[install-pulumi] %s\n' "$*"; }
die() { printf '[install-pulumi] ERROR: %s\n' "$*" >&2; exit 1; }

if [[ -z "${PULUMI_INSTALL_DIR:-}" ]]; then
    if [[ -w /usr/local/bin ]]; then PULUMI_INSTALL_DIR=/usr/local/bin; else PULUMI_INSTALL_DIR="$HOME/.local/bin"; fi
fi
mkdir -p "$PULUMI_INSTALL_DIR"
command -v go >/dev/null || die "needs Go (1.26) on PATH"
export CGO_ENABLED=0 GOFLAGS="${GOFLAGS:--buildvcs=false}"

installed() { "$PULUMI_INSTALL_DIR/$1" "${@:2}" 2>/dev/null | tr -d '\r' | sed -n 1p; }

# The language host is this repository's code: a change to it must rebuild it.
SOURCE_HASH="$(cd "$MODULE" && find . -type f \( -name '*.go' -o -name 'go.mod' -o -name 'go.sum' \) -print0 \
    | sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)"
HASH_MARKER="$PULUMI_INSTALL_DIR/.pulumi-language-python.source"

engine_ok() {
    [[ "$(cat "$HASH_MARKER" 2>/dev/null)" == "$SOURCE_HASH" ]] \
        && [[ "$(installed pulumi version)" == "v$PULUMI_VERSION" ]] \
        && [[ "$(installed pulumi-language-python -version)" == "v$PULUMI_VERSION" ]] \
        && [[ -x "$PULUMI_INSTALL_DIR/pulumi-language-python-exec" ]] \
        && [[ -x "$PULUMI_INSTALL_DIR/pulumi-resource-pulumi-python" ]]
}

if engine_ok; then
    log "pulumi v$PULUMI_VERSION and its Python language host are already in $PULUMI_INSTALL_DIR: nothing to build"
else
    log "building pulumi v$PULUMI_VERSION and the Python language host (first time: ~7 minutes on 2 cores)"
    (
        cd "$MODULE"
        go build -trimpath -ldflags "$VERSION_FLAG" -o "$PULUMI_INSTALL_DIR/pulumi" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
        go build -trimpath -ldflags "$VERSION_FLAG" -o "$PULUMI_INSTALL_DIR/pulumi-language-python" ./cmd/pulumi-language-python
        SDK_DIR="$(go list -m -f '{{.Dir}}' github.com/pulumi/pulumi/sdk/v3)"
        install -m 0755 "$SDK_DIR/python/cmd/pulumi-language-python-exec" "$PULUMI_INSTALL_DIR/"
        install -m 0755 "$SDK_DIR/python/dist/pulumi-resource-pulumi-python" "$PULUMI_INSTALL_DIR/"
    )
    echo "$SOURCE_HASH" >"$HASH_MARKER"
fi

# --- pulumi-kubernetes (renderYamlToDirectory works without a cluster) -------------------------
if [[ "${WITH_KUBERNETES_PROVIDER:-}" == 1 ]]; then
    # The provider has no version flag that returns without an engine: a marker file records it.
    MARKER="$PULUMI_INSTALL_DIR/.pulumi-resource-kubernetes.version"
    if [[ -x "$PULUMI_INSTALL_DIR/pulumi-resource-kubernetes" && "$(cat "$MARKER" 2>/dev/null)" == "$K8S_REPORTED_VERSION" ]]; then
        log "pulumi-resource-kubernetes $K8S_REPORTED_VERSION is already installed"
    else
        log "building pulumi-resource-kubernetes at $K8S_PROVIDER_VERSION (first time: several minutes)"
        WORK="$(mktemp -d /tmp/install-pulumi-k8s.XXXXXX)"
        trap 'rm -rf "$WORK"' EXIT
        (
            cd "$WORK"
            go mod download -json "github.com/pulumi/pulumi-kubernetes/provider/v4@$K8S_PROVIDER_VERSION" >module.json
            go mod download -json "github.com/pulumi/pulumi-kubernetes/sdk/v4@$K8S_SDK_VERSION" >sdk.json
            SRC="$(sed -n 's/^\t"Dir": "\(.*\)",$/\1/p' module.json)"
            SDK="$(sed -n 's/^\t"Dir": "\(.*\)",$/\1/p' sdk.json)"
            [[ -d "$SRC" && -d "$SDK" ]] || die "the module proxy did not serve pulumi-kubernetes"
            cp -r "$SRC" provider && chmod -R u+w provider
            cd provider
            # The module replaces its SDK with ../sdk (a path only its repository has): point it at
            # the served sdk/v4 module instead.
            go mod edit -replace "github.com/pulumi/pulumi-kubernetes/sdk/v4=$SDK"
            (cd cmd/pulumi-resource-kubernetes && VERSION="$K8S_REPORTED_VERSION" go run generate.go)
            go build -trimpath -o "$PULUMI_INSTALL_DIR/pulumi-resource-kubernetes" \
                -ldflags "-X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version=$K8S_REPORTED_VERSION" \
                ./cmd/pulumi-resource-kubernetes
        )
        echo "$K8S_REPORTED_VERSION" >"$MARKER"
    fi
fi

hash -r
log "installed in $PULUMI_INSTALL_DIR:"
"$PULUMI_INSTALL_DIR/pulumi" version | sed 's/^/    pulumi /'
"$PULUMI_INSTALL_DIR/pulumi-language-python" -version | sed 's/^/    pulumi-language-python /'
[[ -x "$PULUMI_INSTALL_DIR/pulumi-resource-kubernetes" ]] && log "    pulumi-resource-kubernetes $K8S_REPORTED_VERSION"
[[ "$(installed pulumi version)" == "v$PULUMI_VERSION" ]] || die "pulumi version does not report v$PULUMI_VERSION"
