# Sourced by the conformance scripts, after they define $bin, $root, in_netns and the array
# server_pids (whose processes their cleanup stops): starts berth's index, a registry that
# works with it and a standalone registry on loopback ports of the namespace, makes the
# accounts the registry cases use (two users and an admin, all active), and exports their
# addresses and credentials.
free_port() { in_netns python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
index_port=$(free_port)
registry_port=$(free_port)
private_port=$(free_port)
nsenter --net="/run/netns/$netns" "$bin/berth" index -l "127.0.0.1:$index_port" -r "$root/index" \
    --registry "127.0.0.1:$registry_port" >"$root/index.log" 2>&1 &
server_pids+=($!)
nsenter --net="/run/netns/$netns" "$bin/berth" registry -l "127.0.0.1:$registry_port" -r "$root/registry" \
    --index "http://127.0.0.1:$index_port" >"$root/registry.log" 2>&1 &
server_pids+=($!)
nsenter --net="/run/netns/$netns" "$bin/berth" registry -l "127.0.0.1:$private_port" -r "$root/private" \
    >"$root/private.log" 2>&1 &
server_pids+=($!)
for _ in $(seq 100); do
    in_netns curl -sf "http://127.0.0.1:$registry_port/v1/_ping" >/dev/null \
        && in_netns curl -sf "http://127.0.0.1:$private_port/v1/_ping" >/dev/null \
        && in_netns curl -s "http://127.0.0.1:$index_port/v1/search?q=x" >/dev/null && break
    sleep 0.1
done
account() {
    in_netns curl -sf -X POST -H 'Content-Type: application/json' \
        -d "{\"username\":\"$1\",\"password\":\"$2\",\"email\":\"$1@example.com\"}" \
        "http://127.0.0.1:$index_port/v1/users/" >/dev/null
    "$bin/berth" index -r "$root/index" activate "$1" >/dev/null
}
account specuser spec-pass1
account specuser2 spec-pass2
account specadmin spec-pass3
"$bin/berth" index -r "$root/index" admin specadmin >/dev/null
export INDEX_URL="http://127.0.0.1:$index_port" REGISTRY_URL="http://127.0.0.1:$registry_port"
export PRIVATE_REGISTRY_URL="http://127.0.0.1:$private_port"
export INDEX_USER=specuser INDEX_PASSWORD=spec-pass1 INDEX_USER2=specuser2 INDEX_PASSWORD2=spec-pass2
export INDEX_ADMIN=specadmin INDEX_ADMIN_PASSWORD=spec-pass3
