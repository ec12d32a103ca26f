#!/usr/bin/env bash
# Builds the Pulumi CLI from its Go modules at exactly the version of @pulumi/pulumi in package-lock.json,
# into .tools/pulumi/bin (git-ignored). For machines where the official installer cannot reach its
# download site; elsewhere `curl -fsSL https://get.pulumi.com | sh -s -- --version <version>` does the same.
# Idempotent: does nothing when the pinned version is already there. Needs Go and the Go module proxy.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
bin="$root/.tools/pulumi/bin"
version="v$(node -p "require('$root/package-lock.json').packages['node_modules/@pulumi/pulumi'].version")"

if [ -x "$bin/pulumi" ] && [ "$("$bin/pulumi" version 2>/dev/null)" = "$version" ]; then
  echo "engine:install: pulumi $version is already in .tools/pulumi/bin"
  exit 0
fi
command -v go >/dev/null 2>&1 || { echo "engine:install: Go ≥ 1.25 is needed to build the Pulumi CLI (https://go.dev/dl; older distribution packages cannot build it)" >&2; exit 1; }
pinned="$(sed -n 's#^\tgithub.com/pulumi/pulumi/pkg/v3 \(v[^ ]*\).*#\1#p' "$here/go.mod")"
if [ "$pinned" != "$version" ]; then
  echo "engine:install: tools/pulumi-cli/go.mod pins pkg/v3 $pinned but @pulumi/pulumi is $version: update both together (go get github.com/pulumi/pulumi/pkg/v3@$version github.com/pulumi/pulumi/sdk/v3@$version && go mod tidy)" >&2
  exit 1
fi

echo "engine:install: building pulumi $version from Go modules (a few minutes the first time)"
mkdir -p "$bin"
cd "$here"
start=$(date +%s)
# -mod=readonly: go.sum pins every module; nothing is resolved anew.
go build -mod=readonly -trimpath \
  -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$version" \
  -o "$bin/pulumi.tmp" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
mv "$bin/pulumi.tmp" "$bin/pulumi"
echo "engine:install: $("$bin/pulumi" version) in .tools/pulumi/bin ($(( $(date +%s) - start )) s); add it to PATH: export PATH=\"$bin:\$PATH\""
