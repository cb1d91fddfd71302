#!/usr/bin/env bash
# Runs a command in a fresh, private network namespace with only loopback,
# where the kwok pod range (10.244.0.0/16) is routed to lo. Inside it a test
# can listen on a pod's IP and send real traffic to it while nothing leaves
# the machine. Needs root (or user namespaces); everything must already be
# built and downloaded, because the namespace has no network.
set -euo pipefail
if [[ "${1:-}" == "--inside" ]]; then
	shift
	ip link set lo up
	ip route add local 10.244.0.0/16 dev lo
	exec "$@"
fi
exec unshare --net -- "$0" --inside "$@"
