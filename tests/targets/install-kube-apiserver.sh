#!/usr/bin/env bash
# Used by .ci/run (the project must not depend on ../shared at run time).
# Builds a real kube-apiserver + kube-controller-manager (Kubernetes v1.20.2) from
# Debian bookworm's "kubernetes" source package (full upstream tree incl. vendor/),
# with Debian's Go 1.19. Installs etcd-server (3.4.23) from Debian too.
set -euo pipefail
# The build takes about 7 minutes: its result is cached outside the checkout.
DEST="${DEST:-/opt/k8s-1.20.2/bin}"
export DEBIAN_FRONTEND=noninteractive
if [ -x "$DEST/kube-apiserver" ] && [ -x "$DEST/kube-controller-manager" ] && command -v etcd >/dev/null; then
  echo "already installed in $DEST"; exit 0
fi
# 1. enable deb-src for the configured Debian suites (same mirror, same registry)
if ! grep -rqs '^Types:.*deb-src' /etc/apt/sources.list.d/ ; then
  sed 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources > /etc/apt/sources.list.d/debian-src.sources
fi
apt-get update -q
# 2. toolchain + etcd + the fixed reflect2 (v1.0.2; the vendored v1.0.1 panics under Go >= 1.18)
apt-get install -y -q --no-install-recommends golang-go etcd-server etcd-client rsync \
    golang-github-modern-go-reflect2-dev openssl ca-certificates
# 3. source
WORK="$(mktemp -d)"
cd "$WORK"
apt-get source --download-only kubernetes
tar xzf kubernetes_*.orig.tar.gz
cd kubernetes-1.20.2
rm -rf vendor/github.com/modern-go/reflect2
cp -r /usr/share/gocode/src/github.com/modern-go/reflect2 vendor/github.com/modern-go/reflect2
rm -f vendor/github.com/modern-go/reflect2/go.mod
# 4. build (GOPATH mode is set by hack/lib/init.sh)
env HOME="$WORK/home" make WHAT="cmd/kube-apiserver cmd/kube-controller-manager"
mkdir -p "$DEST"
cp _output/bin/kube-apiserver _output/bin/kube-controller-manager "$DEST/"
cd /; rm -rf "$WORK"
"$DEST/kube-apiserver" --version
