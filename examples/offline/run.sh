#!/usr/bin/env bash
# The offline walkthrough: a local upstream registry (CNCF distribution), an image signed with a throwaway
# key, the proxy in front with a policy that demands that key, then one allowed and one denied pull.
# Needs: docker-registry, skopeo, openssl, node (Debian: apt-get install docker-registry skopeo openssl).
#   examples/offline/run.sh          # PORTCULLIS_PORT=5000 REGISTRY_PORT=5001 by default; KEEP=1 leaves both running
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
proxy_port="${PORTCULLIS_PORT:-5000}"
registry_port="${REGISTRY_PORT:-5001}"
work="${WORK:-$(mktemp -d -t portcullis-offline-XXXXXX)}"
mkdir -p "$work/keys"
pids=()
cleanup() { [ "${KEEP:-}" = 1 ] || for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
wait_for() { for _ in $(seq 1 100); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.1; done; echo "nothing answers at $1" >&2; exit 1; }

echo "== 1. A local upstream registry on 127.0.0.1:$registry_port (data in $work/registry)"
cat > "$work/registry.yml" <<YAML
version: 0.1
storage: { filesystem: { rootdirectory: $work/registry } }
http: { addr: "127.0.0.1:$registry_port", secret: offline-walkthrough }
log: { level: error, accesslog: { disabled: true } }
YAML
docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
pids+=($!)
wait_for "http://127.0.0.1:$registry_port/v2/"

echo "== 2. Two images: demo/hello (to be signed) and demo/unsigned"
node "$here/push-demo-image.mjs" "127.0.0.1:$registry_port/demo/hello:1" "hello, signed"
node "$here/push-demo-image.mjs" "127.0.0.1:$registry_port/demo/unsigned:1" "nobody signed me"

echo "== 3. A throwaway ECDSA P-256 key pair, and a cosign-format signature of demo/hello:1"
openssl ecparam -name prime256v1 -genkey -noout -out "$work/keys/demo.key.pem"
openssl ec -in "$work/keys/demo.key.pem" -pubout -out "$work/keys/demo.pub.pem" 2>/dev/null
node "$here/sign-image.mjs" "127.0.0.1:$registry_port/demo/hello:1" "$work/keys/demo.key.pem"

echo "== 4. Portcullis on 127.0.0.1:$proxy_port: images under local/demo/ must carry the demo key's signature"
sed -e "s/@PROXY_PORT@/$proxy_port/" -e "s/@REGISTRY_PORT@/$registry_port/" "$here/config.json" > "$work/config.json"
[ -f "$root/dist/cli.js" ] || (cd "$root" && npm run build >/dev/null)
node "$root/dist/cli.js" serve --config "$work/config.json" >"$work/portcullis.log" 2>&1 &
pids+=($!)
wait_for "http://127.0.0.1:$proxy_port/healthz"

echo "== 5. Allowed: the signed image"
skopeo copy --quiet --src-tls-verify=false "docker://127.0.0.1:$proxy_port/local/demo/hello:1" "dir:$work/pulled-hello"
echo "pulled local/demo/hello:1 into $work/pulled-hello"

echo "== 6. Denied: the unsigned image (skopeo shows the proxy's reason)"
if skopeo copy --quiet --src-tls-verify=false "docker://127.0.0.1:$proxy_port/local/demo/unsigned:1" "dir:$work/pulled-unsigned" 2>"$work/denied.txt"; then
  echo "the unsigned image was served: that is a bug" >&2
  exit 1
fi
cat "$work/denied.txt"

echo "== 7. The audit log: why each pull was allowed or denied"
node "$root/dist/cli.js" audit query --config "$work/config.json" --kind pull.manifest --format csv
echo
echo "Done. Work folder: $work"
