#!/usr/bin/env bash
# Builds the local test cluster's binaries (kube-apiserver, kube-controller-manager,
# kube-scheduler, etcd, kwok) from the Go module proxy, once per version. The
# results are cached outside the clone, so later runs and fresh clones on the
# same machine skip this step entirely.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/versions.sh"

log() { printf 'cluster-build: %s\n' "$*" >&2; }

build_kube() {
	local want=("$@") missing=()
	for b in "${want[@]}"; do [[ -x "$KUBE_BIN/$b" ]] || missing+=("$b"); done
	((${#missing[@]})) || { log "kubernetes $KUBE_VERSION cached in $KUBE_BIN"; return; }
	log "building kubernetes $KUBE_VERSION (${missing[*]}) into $KUBE_BIN"
	log "the first build takes about 15 minutes on 2 cores (and ~5 GB of Go build cache); later runs reuse it"
	local minor="${KUBE_VERSION#v1.}"; minor="${minor%%.*}"
	local ld="-s -w"
	for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
		ld+=" -X $p.gitVersion=$KUBE_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
	done
	mkdir -p "$KUBE_BIN"
	(cd "$here/tools/kube" && for b in "${missing[@]}"; do
		log "  go build $b"
		# Build to a temporary name so an interrupted build is never mistaken
		# for a finished one.
		go build -trimpath -ldflags "$ld" -o "$KUBE_BIN/$b.tmp" "k8s.io/kubernetes/cmd/$b"
		mv "$KUBE_BIN/$b.tmp" "$KUBE_BIN/$b"
	done)
}

build_etcd() {
	[[ -x "$ETCD_BIN/etcd" ]] && { log "etcd $ETCD_VERSION cached in $ETCD_BIN"; return; }
	log "building etcd $ETCD_VERSION into $ETCD_BIN (about 30 s)"
	mkdir -p "$ETCD_BIN.tmp"
	(cd "$here/tools/etcd" && go build -trimpath -ldflags "-s -w" -o "$ETCD_BIN.tmp/etcd" .)
	rm -rf "$ETCD_BIN" && mv "$ETCD_BIN.tmp" "$ETCD_BIN"
}

build_kwok() {
	[[ -x "$KWOK_BIN/kwok" && -d "$KWOK_BIN/stage" ]] && { log "kwok $KWOK_VERSION cached in $KWOK_BIN"; return; }
	log "building kwok $KWOK_VERSION into $KWOK_BIN (about 2 minutes)"
	local tmp="$KWOK_BIN.tmp"
	mkdir -p "$tmp"
	GOBIN="$tmp" go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
	# The standalone kwok controller ships no stages and no CRDs: take them from
	# the same module version so behaviour matches the binary.
	local src
	src="$(go mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
	cp -r "$src/kustomize/stage" "$tmp/stage"
	cp -r "$src/kustomize/crd/bases" "$tmp/crd"
	chmod -R u+w "$tmp"
	rm -rf "$KWOK_BIN" && mv "$tmp" "$KWOK_BIN"
}

case "${1:-all}" in
all) build_etcd; build_kwok; build_kube kube-apiserver kube-controller-manager kube-scheduler ;;
kube) build_kube kube-apiserver kube-controller-manager kube-scheduler ;;
# Not needed by the cluster itself: make demo pipes kube-inject output into
# kubectl, as users do, and a fresh machine may not have one.
kubectl) build_kube kubectl ;;
etcd) build_etcd ;;
kwok) build_kwok ;;
*) echo "usage: $0 [all|kube|etcd|kwok|kubectl]" >&2; exit 64 ;;
esac
