#!/usr/bin/env bash
# The main job, end to end on this machine (root): give a lab "pod" two interfaces through
# multus and Debian's real CNI plugins, show them, delete them, show that nothing is left.
#
#   eth0  bridge + host-local (the cluster network, a file in the conf dir)
#   net1  macvlan on a veth master + host-local (named by the pod annotation
#         k8s.v1.cni.cncf.io/networks, handed over as containerd does in runtimeConfig)
#
# Everything happens in network namespaces this script creates (demo-host, demo-pod); the
# machine's own network is not touched. MULTUS_DEMO_SKIP_SETUP=1 skips scripts/setup.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
[ "${MULTUS_DEMO_SKIP_SETUP:-}" = 1 ] || bash scripts/setup.sh --no-kube
VENV=${MULTUS_VENV:-$ROOT/.venv}
MULTUS=$VENV/bin/multus
[ -x "$MULTUS" ] || MULTUS=$(command -v multus)

P=demo-$$
HOST=$P-host POD=$P-pod
WORK=$(mktemp -d /tmp/multus-demo.XXXXXX)
cleanup() {
  ip netns del "$POD" 2>/dev/null || true
  ip netns del "$HOST" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "lab: namespaces $HOST (the node) and $POD (the pod), macvlan master m0 (a veth end) in $HOST"
ip netns add "$HOST"; ip -n "$HOST" link set lo up
ip netns add "$POD";  ip -n "$POD" link set lo up
ip -n "$HOST" link add m0 type veth peer name m0p
ip -n "$HOST" link set m0 up; ip -n "$HOST" link set m0p up

mkdir -p "$WORK/net.d" "$WORK/ipam"
cat > "$WORK/net.d/10-cluster.conflist" <<JSON
{"cniVersion": "1.0.0", "name": "cluster",
 "plugins": [{"type": "bridge", "bridge": "demo0", "isGateway": true,
              "ipam": {"type": "host-local", "subnet": "10.250.10.0/24", "dataDir": "$WORK/ipam"}}]}
JSON
cat > "$WORK/net.d/20-macvlan.conf" <<JSON
{"cniVersion": "1.0.0", "name": "macvlan-conf", "type": "macvlan", "master": "m0", "mode": "bridge",
 "ipam": {"type": "host-local", "subnet": "10.250.11.0/24", "dataDir": "$WORK/ipam"}}
JSON
cat > "$WORK/multus.conf" <<JSON
{"cniVersion": "1.0.0", "name": "multus-cni-network", "type": "multus",
 "confDir": "$WORK/net.d", "cniDir": "$WORK/cache", "binDir": "/usr/lib/cni",
 "clusterNetwork": "cluster",
 "runtimeConfig": {"io.kubernetes.cri.pod-annotations": {"k8s.v1.cni.cncf.io/networks": "macvlan-conf"}}}
JSON
say "multus config ($WORK/multus.conf)"; cat "$WORK/multus.conf"

cni() {  # VERB [extra env...]
  local verb=$1; shift
  env CNI_COMMAND="$verb" CNI_CONTAINERID=demo-pod-1 CNI_NETNS=/run/netns/$POD CNI_IFNAME=eth0 \
      CNI_PATH=/usr/lib/cni CNI_ARGS="IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=demo" "$@" \
      nsenter --net=/run/netns/$HOST "$MULTUS" < "$WORK/multus.conf"
}

say "CNI ADD through multus (result returned to the runtime)"
cni ADD | python3 -m json.tool
say "the pod's interfaces"
addrs=$(ip -n "$POD" -br addr); echo "$addrs"
grep -q '^eth0.*10\.250\.10\.' <<<"$addrs" || { echo "demo: eth0 is missing" >&2; exit 1; }
grep -q '^net1.*10\.250\.11\.' <<<"$addrs" || { echo "demo: net1 is missing" >&2; exit 1; }
say "a ping from the pod to the bridge gateway over eth0"
ip netns exec "$POD" busybox ping -c 1 -W 2 10.250.10.1 | tail -2
say "CNI CHECK"; cni CHECK && echo "CHECK passed"
say "CNI DEL"; cni DEL && echo "DEL done"
say "CNI DEL again, without a netns (as containerd's second DEL)"; cni DEL CNI_NETNS= && echo "DEL done"
say "after DEL: the pod's interfaces, IPAM leases and multus' cache"
ip -n "$POD" -br addr
left=$(ip -n "$POD" -br link | grep -vc '^lo ' || true)
leases=$(find "$WORK/ipam" -type f ! -name 'last_reserved_ip*' ! -name lock | wc -l)
cached=$(find "$WORK/cache" -type f ! -path '*/.locks/*' 2>/dev/null | wc -l)
echo "interfaces besides lo: $left, IPAM leases: $leases, cache files: $cached"
[ "$left" = 0 ] && [ "$leases" = 0 ] && [ "$cached" = 0 ] || { echo "demo: something was left behind" >&2; exit 1; }
say "demo passed"
