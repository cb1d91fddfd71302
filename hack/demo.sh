#!/usr/bin/env bash
# The main job of meshctl end to end on the local cluster. Run by `make demo`,
# which builds bin/meshctl, starts the cluster and sets KUBECONFIG.
set -euo pipefail
cd "$(dirname "$0")/.."

# kubectl comes from the local cluster's build, so a fresh machine needs none.
. hack/cluster/versions.sh
export PATH="$KUBE_BIN:$PATH"

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

step "meshctl version"
meshctl version
