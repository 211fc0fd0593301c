# etcd and the Kubernetes control plane, as processes in node 1's namespaces (like a kubeadm
# control-plane node that also runs workloads).
# shellcheck shell=bash

start_control_plane() {
  local k="$BIN/kubernetes-$K8S_VERSION" etcd_dir="$TESTBED_STATE/etcd"
  mkdir -p "$etcd_dir"
  spawn etcd nsenter --target "$(pid_of node1-ns)" --net --mount -- "$BIN/etcd-$ETCD_VERSION/server" \
    --name testbed --data-dir "$etcd_dir" --unsafe-no-fsync \
    --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
    --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
    --initial-cluster testbed=http://127.0.0.1:2380 --listen-metrics-urls http://127.0.0.1:2381
  wait_for "etcd" 30 in_node 1 curl -sf http://127.0.0.1:2381/health || return 1

  spawn kube-apiserver nsenter --target "$(pid_of node1-ns)" --net --mount -- "$k/kube-apiserver" \
    --etcd-servers=http://127.0.0.1:2379 \
    --advertise-address="$(node_ip 1)" --bind-address=0.0.0.0 --secure-port=6443 \
    --service-cluster-ip-range="$SERVICE_CIDR" --allow-privileged=true \
    --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction \
    --client-ca-file="$PKI/ca.crt" \
    --tls-cert-file="$PKI/kube-apiserver.crt" --tls-private-key-file="$PKI/kube-apiserver.key" \
    --kubelet-client-certificate="$PKI/apiserver-kubelet-client.crt" \
    --kubelet-client-key="$PKI/apiserver-kubelet-client.key" \
    --kubelet-certificate-authority="$PKI/ca.crt" --kubelet-preferred-address-types=InternalIP \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$PKI/service-account.pub" \
    --service-account-signing-key-file="$PKI/service-account.key"
  wait_for "kube-apiserver /readyz" 90 in_node 1 curl -skf https://127.0.0.1:6443/readyz || return 1

  spawn kube-controller-manager nsenter --target "$(pid_of node1-ns)" --net --mount -- \
    "$k/kube-controller-manager" \
    --kubeconfig="$PKI/kube-controller-manager.kubeconfig" --leader-elect=false \
    --bind-address=127.0.0.1 --use-service-account-credentials=true \
    --service-account-private-key-file="$PKI/service-account.key" --root-ca-file="$PKI/ca.crt" \
    --cluster-signing-cert-file="$PKI/ca.crt" --cluster-signing-key-file="$PKI/ca.key" \
    --service-cluster-ip-range="$SERVICE_CIDR" --cluster-cidr="$POD_CIDR" --allocate-node-cidrs=false
  spawn kube-scheduler nsenter --target "$(pid_of node1-ns)" --net --mount -- "$k/kube-scheduler" \
    --kubeconfig="$PKI/kube-scheduler.kubeconfig" --leader-elect=false --bind-address=127.0.0.1
}
