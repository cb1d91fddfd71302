#!/usr/bin/env bash
# The main job of meshctl end to end on the local cluster. Run by `make demo`,
# which builds bin/meshctl, starts the cluster and sets KUBECONFIG.
set -euo pipefail
cd "$(dirname "$0")/.."

# kubectl comes from the local cluster's build, so a fresh machine needs none.
. hack/cluster/versions.sh
export PATH="$KUBE_BIN:$PATH"

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

step "meshctl version"
run meshctl version

step "Install the demo profile: CRDs, control plane, gateways and every addon"
run meshctl install --profile demo -y

step "Re-running the same install changes nothing"
run meshctl install --profile demo -y

step "Every object of the install exists and is ready"
run meshctl verify-install

step "Run the control plane: meshctl server"
# kwok's pods are fake, so the server Deployment runs nothing. The local
# cluster's Service range is on loopback and the API server dials a webhook's
# ClusterIP directly, so meshctl server runs here on that address: the mesh CA,
# the injection and validation webhooks and xDS are real. It keeps running with
# the cluster; make cluster-down stops it.
ip=$(kubectl -n mesh-system get svc meshctl-server -o jsonpath='{.spec.clusterIP}')
server_pid="$(dirname "$KUBECONFIG")/meshctl-server.pid"
[[ -s $server_pid ]] && kill "$(cat "$server_pid")" 2>/dev/null || true
printf '$ meshctl server --webhook-address %s:443 --xds-address %s:15010 --secure-grpc-address %s:15012 --monitoring-address %s:15014 &\n' "$ip" "$ip" "$ip" "$ip"
nohup meshctl server --webhook-address "$ip:443" --xds-address "$ip:15010" \
	--secure-grpc-address "$ip:15012" --monitoring-address "$ip:15014" \
	>"$(dirname "$KUBECONFIG")/meshctl-server.log" 2>&1 &
echo $! >"$server_pid"
for _ in $(seq 60); do curl -sf "http://$ip:15014/ready" >/dev/null && break; sleep 0.5; done
run curl -sS "http://$ip:15014/ready"
echo

step "Inject the sidecar into bookinfo and apply it"
printf '$ meshctl kube-inject -f testdata/bookinfo/bookinfo.yaml | kubectl apply -f -\n'
meshctl kube-inject -f testdata/bookinfo/bookinfo.yaml | kubectl apply --server-side -f -
run kubectl wait --for=condition=Available deployment --all --timeout=120s
printf '$ kubectl get pod -l app=reviews,version=v1 (containers of one injected pod)\n'
kubectl get pod -l app=reviews,version=v1 \
	-o jsonpath='{range .items[0]}{.metadata.name}: init={.spec.initContainers[*].name} containers={.spec.containers[*].name}{"\n"}{end}'

step "Route bookinfo: gateway, subsets, every service to v1"
run kubectl apply --server-side -f testdata/bookinfo/gateway.yaml -f testdata/bookinfo/destination-rules.yaml \
	-f testdata/bookinfo/routes/all-v1.yaml

step "Route reviews: end-user: jason to v2, everyone else 90/10 between v1 and v3 (replaces reviews' v1 route)"
run kubectl apply --server-side -f testdata/demo/reviews-jason-90-10.yaml
run meshctl get virtualservices

step "What would moving reviews from 90/10 to 50/50 change?"
run meshctl config diff testdata/bookinfo/routes/reviews-90-10.yaml testdata/bookinfo/routes/reviews-50-50.yaml || true

step "What would applying the 50/50 split change in the live cluster?"
run meshctl config diff --cluster testdata/bookinfo/routes/reviews-50-50.yaml || true

step "Analyze the live cluster"
run meshctl analyze

step "Analyze a broken route file together with the cluster (exit code 79 = findings)"
set +e
run meshctl analyze testdata/demo/broken-route.yaml
code=$?
set -e
printf 'exit code: %s\n' "$code"
[[ $code == 79 ]] || { echo "expected findings (exit code 79) from the broken route" >&2; exit 1; }

step "Open grafana: port-forward to its pod and fetch the page"
# kwok's pods are fake, so a kwok PortForward stands in for grafana's
# container: it routes the pod's port to a small local web server.
pod=$(kubectl -n mesh-system get pod -l meshctl.io/component=grafana -o jsonpath='{.items[0].metadata.name}')
page=$(mktemp -d)
echo '<title>Grafana (demo stand-in)</title>' > "$page/index.html"
python3 -u -m http.server 0 --bind 127.0.0.1 --directory "$page" >"$page/log" 2>&1 &
srv=$!
port=
for _ in $(seq 100); do
	port=$(sed -n 's/.*port \([0-9]*\).*/\1/p' "$page/log" | head -1)
	[[ -n $port ]] && break
	sleep 0.1
done
[[ -n $port ]] || { echo "the stand-in web server did not start" >&2; exit 1; }
kubectl -n mesh-system apply -f - >/dev/null <<EOT
apiVersion: kwok.x-k8s.io/v1alpha1
kind: PortForward
metadata: {name: $pod, namespace: mesh-system}
spec: {forwards: [{target: {port: $port, address: 127.0.0.1}}]}
EOT
printf '$ meshctl dashboard grafana --browser=false --port 0\n'
url_file=$(mktemp)
meshctl dashboard grafana --browser=false --port 0 >"$url_file" &
dash=$!
for _ in $(seq 50); do [[ -s $url_file ]] && break; sleep 0.1; done
url=$(head -1 "$url_file")
printf '%s\n$ curl -s %s\n' "$url" "$url"
curl -sS --retry 10 --retry-all-errors --retry-delay 1 "$url" | head -3
kill -INT "$dash"; wait "$dash" || true
kill "$srv"; rm -rf "$page" "$url_file"

step "Done"
cat <<EOT
The cluster keeps running. Try:
  export KUBECONFIG=$KUBECONFIG
  bin/meshctl dashboard grafana        # or prometheus, jaeger, kiali, zipkin
  bin/meshctl uninstall -y
  make cluster-down
EOT
