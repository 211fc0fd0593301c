# The testbed's networks: an "outside world" netns holding the node switch, and one netns per node.
# Namespaces are held by `unshare ... sleep` holder processes, so nothing is mounted on the host
# (no /run/netns bind mounts) and everything in them vanishes when `down` ends the holders.
# shellcheck shell=bash

make_outside() {
  spawn outside-ns unshare --net sleep infinity
  in_outside ip link set lo up
  in_outside ip link add sw0 type bridge
  in_outside ip addr add "$SWITCH_IP/24" dev sw0
  in_outside ip link set sw0 up
  in_outside ip link add sw1 type bridge   # the secondary (Multus) network's switch, no address
  in_outside ip link set sw1 up
  in_outside ip addr add "$EXTERNAL_IP/32" dev lo
  # Port 9 of the outside world is behind a firewall that drops: what a blocked egress looks like.
  in_outside iptables -A INPUT -d "$EXTERNAL_IP" -p tcp --dport 9 -j DROP
  in_outside iptables -A INPUT -d "$EXTERNAL_IP" -p udp --dport 9 -j DROP
  # Nodes masquerade pod traffic, so the outside world needs no route back to pods: like the internet.
  mkdir -p "$TESTBED_STATE/outside-www"
  echo "hello from the cnicheck testbed's outside world" > "$TESTBED_STATE/outside-www/index.html"
  spawn outside-http nsenter --target "$(pid_of outside-ns)" --net -- \
    python3 -m http.server 80 --bind "$EXTERNAL_IP" --directory "$TESTBED_STATE/outside-www"
}

# make_node_net N: node N's netns, plugged into the switch (eth0) and the secondary switch (eth1).
make_node_net() {
  local n=$1
  spawn "node$n-ns" unshare --net --mount --propagation private sleep infinity
  local node_pid; node_pid=$(pid_of "node$n-ns")
  in_outside ip link add "n$n-eth0" type veth peer name eth0 netns "$node_pid"
  in_outside ip link add "n$n-eth1" type veth peer name eth1 netns "$node_pid"
  in_outside ip link set "n$n-eth0" master sw0 up
  in_outside ip link set "n$n-eth1" master sw1 up
  in_node "$n" ip link set lo up
  in_node "$n" ip addr add "$(node_ip "$n")/24" dev eth0
  in_node "$n" ip link set eth0 up
  in_node "$n" ip link set eth1 up
  in_node "$n" ip route add default via "$SWITCH_IP"
  in_node "$n" sysctl -qw net.ipv4.ip_forward=1
  # kube-router's pods are routed between nodes over the switch; Cilium tunnels them (VXLAN) itself.
  local m
  [ "$TESTBED_CNI" = cilium ] || for m in $(seq 1 "$NODES"); do
    [ "$m" = "$n" ] || in_node "$n" ip route add "$(node_pod_cidr "$m")" via "$(node_ip "$m")"
  done
  # Pods leave the cluster the way they do on a cloud node: source-NATed to the node's address.
  in_node "$n" iptables -t nat -A POSTROUTING -s "$POD_CIDR" ! -d "$POD_CIDR" -o eth0 \
    -m comment --comment "cnicheck-testbed: pods to the outside world" -j MASQUERADE
}

# The apiserver lives in node 1's netns; the host reaches it on 127.0.0.1 through this forwarder.
forward_apiserver() {
  spawn apiserver-forward socat "TCP-LISTEN:$API_HOST_PORT,bind=127.0.0.1,reuseaddr,fork" \
    "EXEC:nsenter --target $(pid_of node1-ns) --net -- socat STDIO TCP\:$(node_ip 1)\:6443"
}
