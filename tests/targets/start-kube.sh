#!/usr/bin/env bash
# Used by .ci/run: start etcd + kube-apiserver (+ kube-controller-manager) on loopback; writes $DIR/kubeconfig and $DIR/*.pid
set -euo pipefail
BIN="${BIN:-/opt/k8s-1.20.2/bin}"; DIR="${DIR:-/tmp/kube-it}"; PORT="${PORT:-6443}"; ETCD_PORT="${ETCD_PORT:-2379}"
TOKEN="${TOKEN:-admin-token-123}"
mkdir -p "$DIR/pki"; cd "$DIR"
if [ ! -f pki/apiserver.crt ]; then
  openssl req -x509 -newkey rsa:2048 -nodes -keyout pki/ca.key -out pki/ca.crt -days 3650 -subj "/CN=test-ca" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -keyout pki/apiserver.key -out pki/apiserver.csr -subj "/CN=kube-apiserver" 2>/dev/null
  printf "subjectAltName=IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes.default.svc\nextendedKeyUsage=serverAuth\n" > pki/ext.cnf
  openssl x509 -req -in pki/apiserver.csr -CA pki/ca.crt -CAkey pki/ca.key -CAcreateserial -out pki/apiserver.crt -days 3650 -extfile pki/ext.cnf 2>/dev/null
  openssl genrsa -out pki/sa.key 2048 2>/dev/null; openssl rsa -in pki/sa.key -pubout -out pki/sa.pub 2>/dev/null
fi
echo "$TOKEN,admin,admin,system:masters" > tokens.csv
cat > kubeconfig <<KC
apiVersion: v1
kind: Config
clusters: [{name: local, cluster: {server: "https://127.0.0.1:$PORT", certificate-authority: "$DIR/pki/ca.crt"}}]
users: [{name: admin, user: {token: "$TOKEN"}}]
contexts: [{name: local, context: {cluster: local, user: admin}}]
current-context: local
KC
etcd --data-dir "$DIR/etcd-data" --listen-client-urls "http://127.0.0.1:$ETCD_PORT" \
  --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" --listen-peer-urls "http://127.0.0.1:$((ETCD_PORT+1))" \
  > etcd.log 2>&1 & echo $! > etcd.pid
"$BIN/kube-apiserver" --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
  --bind-address=127.0.0.1 --secure-port="$PORT" --advertise-address=127.0.0.1 --endpoint-reconciler-type=none \
  --tls-cert-file=pki/apiserver.crt --tls-private-key-file=pki/apiserver.key --client-ca-file=pki/ca.crt \
  --token-auth-file=tokens.csv --authorization-mode=RBAC \
  --service-account-issuer=https://kubernetes.default.svc --service-account-key-file=pki/sa.pub \
  --service-account-signing-key-file=pki/sa.key --service-cluster-ip-range=10.0.0.0/24 \
  > apiserver.log 2>&1 & echo $! > apiserver.pid
for i in $(seq 1 300); do
  curl -sf --cacert pki/ca.crt -H "Authorization: Bearer $TOKEN" "https://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break; sleep 0.2
done
curl -sf --cacert pki/ca.crt -H "Authorization: Bearer $TOKEN" "https://127.0.0.1:$PORT/readyz" >/dev/null
if [ "${WITH_KCM:-1}" = 1 ]; then
  "$BIN/kube-controller-manager" --kubeconfig=kubeconfig --leader-elect=false --secure-port=0 --port=0 \
    --service-account-private-key-file=pki/sa.key --root-ca-file=pki/ca.crt \
    --controllers='*,-nodeipam,-nodelifecycle,-route,-service,-cloud-node-lifecycle,-attachdetach,-persistentvolume-binder,-persistentvolume-expander,-ttl,-bootstrapsigner,-tokencleaner' \
    > kcm.log 2>&1 & echo $! > kcm.pid
fi
echo "KUBECONFIG=$DIR/kubeconfig"
