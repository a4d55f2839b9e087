#!/usr/bin/env bash
# kube-apiserver.sh -- a real Kubernetes API server (kube-apiserver + etcd) on
# 127.0.0.1 for the multus test suite, built only from Debian packages.
#
#   tests/harness/kube-apiserver.sh build   # apt deps + build kube-apiserver (only if not cached)
#   tests/harness/kube-apiserver.sh build-node  # also kubelet, kube-scheduler, kube-controller-manager
#   tests/harness/kube-apiserver.sh start   # certs, tokens, etcd + kube-apiserver, wait for /readyz
#   tests/harness/kube-apiserver.sh stop    # stop both by pid, remove the run dir (state dir stays)
#   tests/harness/kube-apiserver.sh env     # print "export KUBECONFIG=..." for eval
#   tests/harness/kube-apiserver.sh status  # exit 0 when running
#   tests/harness/kube-apiserver.sh clean   # stop and also remove the state dir
# or:  source tests/harness/kube-apiserver.sh; kube_build; kube_start; ...; kube_stop
#
# build: apt installs etcd-server, openssl, curl, python3 (run time) and golang-go, dpkg-dev,
#   make, rsync, golang-github-modern-go-reflect2-dev (build time); adds a deb-src entry for
#   the configured Debian mirror if needed; `apt-get source kubernetes` (bookworm ships
#   1.20.5+really1.20.2 with vendor/); replaces the vendored modern-go/reflect2 1.0.1 (breaks
#   with Go >= 1.18 on the first real request) by Debian's 1.0.2; builds
#   cmd/kube-apiserver offline; caches $KUBE_CACHE_DIR/bin/kube-apiserver; deletes the tree.
#   Only this step needs the network (the Debian mirror): run it before entering a network
#   namespace that has no route out. With the binary cached and the packages installed it
#   does nothing.
#
# build-node: the same from the same source package for the binaries a one-node cluster needs
#   (tests/harness/cluster.py): kubelet, kube-scheduler, kube-controller-manager, cached beside
#   kube-apiserver. They are built one after the other (one Go build at a time: 2 cores), sharing
#   one Go build cache; only the missing ones are built. Needs nothing at run time beyond what
#   containerd (scripts/setup.sh) already brings.
#
# start: everything listens on 127.0.0.1 of the network namespace the script runs in (its
#   loopback is brought up if it is down). Free ports are picked there unless given.
#   Authorization is RBAC; ServiceAccount admission is disabled (no controller-manager
#   creates default service accounts). Two static tokens:
#     admin   -> user "admin", group system:masters           ($KUBE_STATE_DIR/kubeconfig)
#     multus  -> user system:serviceaccount:kube-system:multus  ($KUBE_STATE_DIR/kubeconfig-multus)
#   The multus user has no rights until a binding grants them (deploy/rbac.yaml binds the
#   multus ClusterRole to that service account).
#   The state dir (kubeconfigs, ca.crt, token, url) outlives `stop`, so a client configured
#   with the kubeconfig keeps a valid file while the server is down.
#
# Env: KUBE_CACHE_DIR (/opt/kube-test)  KUBE_RUN_DIR (/tmp/multus-kube-apiserver)
#   KUBE_STATE_DIR ($KUBE_RUN_DIR.state)  KUBE_APISERVER_PORT  KUBE_ETCD_PORT
#   KUBE_ETCD_PEER_PORT (free ports by default)  KUBE_READY_TIMEOUT (120 s)
#   KUBE_BUILD_KEEP_SRC=1 (keep the source tree)  KUBE_NO_BUILD=1 (start fails instead of building)
#   KUBE_STOP_GRACE (10 s of SIGTERM before SIGKILL at stop; 0: SIGKILL at once)
#   KUBE_WATCH_PID (stop the servers when this process exits; the pytest fixture sets it)
# Traffic: apt (Debian mirror) during build; 127.0.0.1 only otherwise.

KUBE_CACHE_DIR="${KUBE_CACHE_DIR:-/opt/kube-test}"
KUBE_RUN_DIR="${KUBE_RUN_DIR:-/tmp/multus-kube-apiserver}"
KUBE_STATE_DIR="${KUBE_STATE_DIR:-$KUBE_RUN_DIR.state}"
KUBE_READY_TIMEOUT="${KUBE_READY_TIMEOUT:-120}"
KUBE_APISERVER_BIN="$KUBE_CACHE_DIR/bin/kube-apiserver"
KUBE_RUNTIME_PKGS=(etcd-server openssl curl python3)
KUBE_BUILD_PKGS=(golang-go dpkg-dev make rsync golang-github-modern-go-reflect2-dev)
KUBE_NODE_BINS=(kubelet kube-scheduler kube-controller-manager)

_kube_log() { echo "[kube-apiserver.sh] $*" >&2; }

_kube_apt() {
  # waits for the dpkg lock: other processes may be installing
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 "$@"
}

_kube_missing_pkgs() {
  local p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || echo "$p"
  done
}

_kube_need_pkgs() {
  local missing
  missing=$(_kube_missing_pkgs "$@" | tr '\n' ' ')
  [ -n "${missing// /}" ] || return 0
  _kube_log "apt-get install $missing"
  # shellcheck disable=SC2086
  _kube_apt install -y --no-install-recommends $missing >/dev/null ||
    { _kube_apt_update && _kube_apt install -y --no-install-recommends $missing >/dev/null; } ||
    { _kube_log "could not install: $missing (no route to the Debian mirror? run 'build' outside the network namespace)"; return 1; }
}

_kube_apt_update() {
  local i
  for i in 1 2 3 4 5 6; do
    _kube_apt update >/dev/null 2>&1 && return 0
    sleep 10   # another apt may hold the lists lock
  done
  _kube_apt update
}

_kube_add_deb_src() {
  apt-get source --print-uris kubernetes >/dev/null 2>&1 && return 0
  local uri suite
  uri=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null)
  [ -n "$uri" ] || uri=$(awk '$1=="deb" && $0 ~ /bookworm/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null)
  [ -n "$uri" ] || uri=http://deb.debian.org/debian
  suite=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-bookworm}")
  [ -n "$suite" ] || suite=bookworm
  _kube_log "adding deb-src $uri $suite"
  printf '%s\n' "Types: deb-src" "URIs: $uri" "Suites: $suite $suite-updates" "Components: main" \
    "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg" >/etc/apt/sources.list.d/multus-kube-src.sources
  _kube_apt_update
  apt-get source --print-uris kubernetes >/dev/null ||
    { _kube_log "apt-get source kubernetes unavailable"; return 1; }
}

_kube_build_binaries() {  # cmd names (kube-apiserver kubelet ...): one make per binary, one tree
  local src="$KUBE_CACHE_DIR/src" t0=$SECONDS tree name t1
  rm -rf "$src" && mkdir -p "$src" "$KUBE_CACHE_DIR/bin" || return 1
  _kube_log "apt-get source kubernetes"
  (cd "$src" && apt-get source -q kubernetes >"$KUBE_CACHE_DIR/source.log" 2>&1) ||
    { _kube_log "apt-get source kubernetes failed:"; tail -5 "$KUBE_CACHE_DIR/source.log" >&2; return 1; }
  tree=$(find "$src" -maxdepth 1 -mindepth 1 -type d -name 'kubernetes-*' | head -1)
  [ -d "$tree/vendor" ] || { _kube_log "no vendor/ in '$tree'"; return 1; }
  for name in "$@"; do
    [ -d "$tree/cmd/$name" ] || { _kube_log "no cmd/$name in '$tree'"; return 1; }
  done
  # vendored reflect2 1.0.1 is broken with Go >= 1.18: use Debian's 1.0.2 (same API)
  if grep -q 'modern-go/reflect2 v1.0.1' "$tree/vendor/modules.txt"; then
    local r2=/usr/share/gocode/src/github.com/modern-go/reflect2
    [ -f "$r2/go_above_118.go" ] ||
      { _kube_log "need golang-github-modern-go-reflect2-dev >= 1.0.2"; return 1; }
    rm -rf "$tree/vendor/github.com/modern-go/reflect2"
    cp -r "$r2" "$tree/vendor/github.com/modern-go/reflect2"
    find "$tree/vendor/github.com/modern-go/reflect2" -name '*_test.go' -delete
    rm -rf "$tree/vendor/github.com/modern-go/reflect2/tests" "$tree/vendor/github.com/modern-go/reflect2/test"
  fi
  for name in "$@"; do
    t1=$SECONDS
    _kube_log "building $name in $tree (a few minutes on 2 cores; log $KUBE_CACHE_DIR/build-$name.log)"
    (
      cd "$tree" &&
      export GOFLAGS=-mod=vendor GOPROXY=off GOTOOLCHAIN=local GO111MODULE=on CGO_ENABLED=0 \
             GOPATH="$KUBE_CACHE_DIR/gopath" GOCACHE="$KUBE_CACHE_DIR/gocache" &&
      make WHAT="cmd/$name" >"$KUBE_CACHE_DIR/build-$name.log" 2>&1
    ) || { _kube_log "build of $name failed, see $KUBE_CACHE_DIR/build-$name.log"
           tail -20 "$KUBE_CACHE_DIR/build-$name.log" >&2; return 1; }
    install -m 0755 "$tree/_output/bin/$name" "$KUBE_CACHE_DIR/bin/$name.tmp" &&
      mv "$KUBE_CACHE_DIR/bin/$name.tmp" "$KUBE_CACHE_DIR/bin/$name" || return 1
    _kube_log "built $KUBE_CACHE_DIR/bin/$name in $((SECONDS - t1)) s: $("$KUBE_CACHE_DIR/bin/$name" --version 2>&1)"
  done
  if [ "${KUBE_BUILD_KEEP_SRC:-0}" != 1 ]; then
    rm -rf "$src" "$KUBE_CACHE_DIR/gopath" "$KUBE_CACHE_DIR/gocache"
  fi
  _kube_log "built $* in $((SECONDS - t0)) s"
}

_kube_missing_bins() {
  local n
  for n in "$@"; do [ -x "$KUBE_CACHE_DIR/bin/$n" ] || echo "$n"; done
}

_kube_build_missing() {  # cmd names; builds those not cached, one build at a time per cache dir
  local missing
  missing=$(_kube_missing_bins "$@" | tr '\n' ' ')
  if [ -z "${missing// /}" ]; then
    _kube_log "using cached $*"
    return 0
  fi
  mkdir -p "$KUBE_CACHE_DIR" || return 1
  # a waiting caller reuses the result
  (
    flock -w 3600 9 || { _kube_log "timed out waiting for $KUBE_CACHE_DIR/build.lock"; exit 1; }
    missing=$(_kube_missing_bins "$@" | tr '\n' ' ')
    [ -z "${missing// /}" ] && exit 0
    _kube_need_pkgs "${KUBE_BUILD_PKGS[@]}" || exit 1
    _kube_add_deb_src || exit 1
    # shellcheck disable=SC2086
    _kube_build_binaries $missing
  ) 9>"$KUBE_CACHE_DIR/build.lock"
}

kube_build() {
  _kube_need_pkgs "${KUBE_RUNTIME_PKGS[@]}" || return 1
  _kube_build_missing kube-apiserver
}

kube_build_node() {
  _kube_need_pkgs "${KUBE_RUNTIME_PKGS[@]}" || return 1
  _kube_build_missing kube-apiserver "${KUBE_NODE_BINS[@]}"
}

_kube_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

_kube_loopback_up() {
  # a fresh network namespace has its loopback down
  command -v ip >/dev/null || return 0
  if ! ip -o link show lo 2>/dev/null | grep -q '[<,]UP[,>]'; then
    ip link set lo up 2>/dev/null || { _kube_log "loopback is down and cannot be brought up"; return 1; }
  fi
}

_kube_certs() {
  local d="$KUBE_RUN_DIR/pki"
  mkdir -p "$d" || return 1
  (
    cd "$d" || exit 1
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 3650 \
      -subj "/CN=multus-test-ca" 2>/dev/null || exit 1
    openssl req -newkey rsa:2048 -nodes -keyout apiserver.key -out apiserver.csr \
      -subj "/CN=kube-apiserver" 2>/dev/null || exit 1
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc\nextendedKeyUsage=serverAuth\n' >ext.cnf
    openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
      -out apiserver.crt -days 3650 -extfile ext.cnf 2>/dev/null || exit 1
    openssl genrsa -out sa.key 2048 2>/dev/null && openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null || exit 1
    chmod 600 ./*.key
  ) || { _kube_log "openssl failed"; return 1; }
  # token,user,uid,"group1,group2"
  KUBE_ADMIN_TOKEN=$(openssl rand -hex 24)
  KUBE_MULTUS_TOKEN=$(openssl rand -hex 24)
  {
    echo "$KUBE_ADMIN_TOKEN,admin,admin-uid,\"system:masters\""
    echo "$KUBE_MULTUS_TOKEN,system:serviceaccount:kube-system:multus,multus-uid,\"system:serviceaccounts,system:serviceaccounts:kube-system\""
  } >"$KUBE_RUN_DIR/tokens.csv"
  chmod 600 "$KUBE_RUN_DIR/tokens.csv"
}

_kube_alive() {
  # running and not a zombie (an exited child of ours waits for PID 1 to reap it)
  local st
  kill -0 "$1" 2>/dev/null || return 1
  st=$(sed -n 's/.*) \(.\).*/\1/p' "/proc/$1/stat" 2>/dev/null) || return 0
  [ "$st" != Z ] && [ "$st" != X ]
}

_kube_pid_alive() { [ -f "$1" ] && _kube_alive "$(cat "$1")"; }

_kube_write_kubeconfig() {  # file user token
  cat >"$1.tmp" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: $KUBE_URL
    certificate-authority-data: $(base64 -w0 "$KUBE_RUN_DIR/pki/ca.crt")
users:
- name: $2
  user:
    token: $3
contexts:
- name: local
  context: {cluster: local, user: $2, namespace: default}
current-context: local
EOF
  chmod 600 "$1.tmp" && mv "$1.tmp" "$1"
}

_kube_watchdog() {
  # stops the servers when $KUBE_WATCH_PID (the test process) goes away without calling stop
  local watch="$1"
  (
    trap '' INT HUP
    while _kube_alive "$watch" && [ -d "$KUBE_RUN_DIR" ]; do sleep 2; done
    [ -d "$KUBE_RUN_DIR" ] && KUBE_WATCHDOG_SELF=1 kube_stop
  ) </dev/null >/dev/null 2>&1 &
  echo $! >"$KUBE_RUN_DIR/watchdog.pid"
}

kube_start() {
  if _kube_pid_alive "$KUBE_RUN_DIR/kube-apiserver.pid"; then
    _kube_log "already running; KUBECONFIG=$KUBE_STATE_DIR/kubeconfig"
    export KUBECONFIG="$KUBE_STATE_DIR/kubeconfig"
    return 0
  fi
  local m
  m=$(_kube_missing_pkgs "${KUBE_RUNTIME_PKGS[@]}" | tr '\n' ' ')
  if [ -n "${m// /}" ] || [ ! -x "$KUBE_APISERVER_BIN" ]; then
    [ "${KUBE_NO_BUILD:-0}" = 1 ] &&
      { _kube_log "not built (missing: ${m}${KUBE_APISERVER_BIN}); run '$0 build' first"; return 1; }
    kube_build || return 1
  fi
  _kube_loopback_up || return 1
  kube_stop >/dev/null 2>&1   # leftovers of a previous run with the same run dir
  rm -rf "$KUBE_RUN_DIR" && mkdir -p "$KUBE_RUN_DIR" "$KUBE_STATE_DIR" || return 1
  _kube_certs || return 1
  local ep="${KUBE_ETCD_PORT:-$(_kube_free_port)}" epp="${KUBE_ETCD_PEER_PORT:-$(_kube_free_port)}"
  local ap="${KUBE_APISERVER_PORT:-$(_kube_free_port)}" t0=$SECONDS i
  [ -n "${KUBE_WATCH_PID:-}" ] && _kube_watchdog "$KUBE_WATCH_PID"
  # etcd: one member, loopback only, throwaway data dir
  etcd --name multus-test --data-dir "$KUBE_RUN_DIR/etcd-data" \
    --listen-client-urls "http://127.0.0.1:$ep" --advertise-client-urls "http://127.0.0.1:$ep" \
    --listen-peer-urls "http://127.0.0.1:$epp" --initial-advertise-peer-urls "http://127.0.0.1:$epp" \
    --initial-cluster "multus-test=http://127.0.0.1:$epp" --listen-metrics-urls "" \
    --unsafe-no-fsync --quota-backend-bytes 1073741824 \
    </dev/null >"$KUBE_RUN_DIR/etcd.log" 2>&1 &
  echo $! >"$KUBE_RUN_DIR/etcd.pid"
  for i in $(seq 1 150); do
    curl --noproxy '*' -fsS "http://127.0.0.1:$ep/health" 2>/dev/null | grep -q '"health":"true"' && break
    _kube_pid_alive "$KUBE_RUN_DIR/etcd.pid" ||
      { _kube_log "etcd died:"; tail -20 "$KUBE_RUN_DIR/etcd.log" >&2; kube_stop keep-logs; return 1; }
    sleep 0.2
  done
  local pki="$KUBE_RUN_DIR/pki"
  "$KUBE_APISERVER_BIN" \
    --etcd-servers "http://127.0.0.1:$ep" \
    --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$ap" \
    --insecure-port 0 \
    --tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" \
    --client-ca-file "$pki/ca.crt" \
    --token-auth-file "$KUBE_RUN_DIR/tokens.csv" \
    --authorization-mode RBAC \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$pki/sa.pub" --service-account-signing-key-file "$pki/sa.key" \
    --service-cluster-ip-range 10.0.0.0/24 \
    --disable-admission-plugins ServiceAccount \
    --allow-privileged=true \
    --cert-dir "$KUBE_RUN_DIR/certs" \
    --profiling=false \
    </dev/null >"$KUBE_RUN_DIR/kube-apiserver.log" 2>&1 &
  echo $! >"$KUBE_RUN_DIR/kube-apiserver.pid"
  KUBE_URL="https://127.0.0.1:$ap"
  for i in $(seq 1 $((KUBE_READY_TIMEOUT * 4))); do
    if curl --noproxy '*' -fsS --cacert "$pki/ca.crt" -H "Authorization: Bearer $KUBE_ADMIN_TOKEN" \
        "$KUBE_URL/readyz" 2>/dev/null | grep -q '^ok$'; then
      cp "$pki/ca.crt" "$KUBE_STATE_DIR/ca.crt.tmp" && mv "$KUBE_STATE_DIR/ca.crt.tmp" "$KUBE_STATE_DIR/ca.crt"
      (umask 077; echo "$KUBE_ADMIN_TOKEN" >"$KUBE_STATE_DIR/token"; echo "$KUBE_MULTUS_TOKEN" >"$KUBE_STATE_DIR/token-multus")
      echo "$KUBE_URL" >"$KUBE_STATE_DIR/url"
      _kube_write_kubeconfig "$KUBE_STATE_DIR/kubeconfig" admin "$KUBE_ADMIN_TOKEN"
      _kube_write_kubeconfig "$KUBE_STATE_DIR/kubeconfig-multus" multus "$KUBE_MULTUS_TOKEN"
      export KUBECONFIG="$KUBE_STATE_DIR/kubeconfig"
      _kube_log "ready in $((SECONDS - t0)) s at $KUBE_URL  KUBECONFIG=$KUBECONFIG"
      return 0
    fi
    _kube_pid_alive "$KUBE_RUN_DIR/kube-apiserver.pid" || break
    sleep 0.25
  done
  _kube_log "kube-apiserver not ready (logs kept in $KUBE_RUN_DIR):"
  tail -30 "$KUBE_RUN_DIR/kube-apiserver.log" >&2
  kube_stop keep-logs
  return 1
}

kube_stop() {
  # SIGTERM to all at once (KUBE_STOP_GRACE=0: SIGKILL right away), SIGKILL after the grace period
  local n f pid pids=() grace="${KUBE_STOP_GRACE:-10}" sig=TERM i
  [ "$grace" = 0 ] && sig=KILL
  for n in kube-apiserver etcd watchdog; do
    f="$KUBE_RUN_DIR/$n.pid"
    [ -f "$f" ] || continue
    pid=$(cat "$f")
    rm -f "$f"
    [ "$n" = watchdog ] && [ -n "${KUBE_WATCHDOG_SELF:-}" ] && continue
    _kube_alive "$pid" || continue
    kill -s "$sig" "$pid" 2>/dev/null
    pids+=("$pid")
  done
  for ((i = 0; i < grace * 20; i++)); do
    for pid in "${pids[@]}"; do _kube_alive "$pid" && break; pid=; done
    [ -z "${pid:-}" ] && break
    sleep 0.05
  done
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null; done
  [ "${1:-}" = keep-logs ] || rm -rf "$KUBE_RUN_DIR"
}

kube_status() {
  _kube_pid_alive "$KUBE_RUN_DIR/kube-apiserver.pid" && _kube_pid_alive "$KUBE_RUN_DIR/etcd.pid"
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  case "${1:-}" in
    build) kube_build ;;
    build-node) kube_build_node ;;
    start) kube_start && echo "export KUBECONFIG=$KUBE_STATE_DIR/kubeconfig" ;;
    stop) kube_stop ;;
    clean) kube_stop && rm -rf "$KUBE_STATE_DIR" ;;
    status) kube_status ;;
    env) echo "export KUBECONFIG=$KUBE_STATE_DIR/kubeconfig" ;;
    *) echo "usage: $0 build|build-node|start|stop|clean|status|env" >&2; exit 2 ;;
  esac
fi
