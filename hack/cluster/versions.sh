# Pinned versions of the local test cluster's components, and where their
# binaries are cached. Sourced by the other scripts in hack/cluster.
KUBE_VERSION=v1.34.2
ETCD_VERSION=v3.6.8
KWOK_VERSION=v0.8.0
MESHCTL_CLUSTER_CACHE="${MESHCTL_CLUSTER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/meshctl/cluster}"
KUBE_BIN="$MESHCTL_CLUSTER_CACHE/kube-$KUBE_VERSION"
ETCD_BIN="$MESHCTL_CLUSTER_CACHE/etcd-$ETCD_VERSION"
KWOK_BIN="$MESHCTL_CLUSTER_CACHE/kwok-$KWOK_VERSION"
