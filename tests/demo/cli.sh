#!/usr/bin/env bash
# The command-line demo behind `make demo`: one key, one task token, one verifier, and the
# refusals that make a task token worth having. Uses the release CLI that `make build` made.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
tt="${TASKTOKEN_BIN:-$root/target/release/tasktoken}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
show_refusal() { # run a command expected to fail and show its error JSON
  local rc=0
  "$@" >/dev/null 2>"$work/err" || rc=$?
  if [ "$rc" -eq 0 ]; then echo "UNEXPECTED: accepted"; exit 1; fi
  printf 'refused (exit %s): %s\n' "$rc" "$(cat "$work/err")"
}

step "1. An issuer key: the private JWK goes to a 0600 file, only the public JWKS is printed"
"$tt" keygen --kid demo-2026-11 --out "$work/issuer.jwk" | tee "$work/jwks.json"
ls -l "$work/issuer.jwk" | awk '{print $1, $NF}'

step "2. Mint a token for one task: look up customer 4821, read-only, 5 minutes"
"$tt" mint --key "$work/issuer.jwk" --iss https://auth.example --sub agent:lookup-bot \
  --aud crm-api --task lookup-4821 --scope customers:read --res customers/4821 --ttl 5m \
  >"$work/token"
printf '%s...(%s bytes)\n' "$(cut -c1-40 "$work/token")" "$(wc -c <"$work/token" | tr -d ' ')"

step "3. Verify it for exactly that action and resource (token on stdin, not in history)"
verify=("$tt" verify --jwks "$work/jwks.json" --iss https://auth.example --aud crm-api)
"${verify[@]}" --action customers:read --resource customers/4821 - <"$work/token"

step "4. The same token, another customer: refused"
show_refusal "${verify[@]}" --action customers:read --resource customers/4822 - <"$work/token"

step "5. The same token, a write: refused"
show_refusal "${verify[@]}" --action customers:write --resource customers/4821 - <"$work/token"

step "6. A path-traversal attempt: refused"
show_refusal "${verify[@]}" --action customers:read --resource customers/4821/../4822 - <"$work/token"

step "7. A tampered token (payload edited to grant customers/*, signature kept): refused"
python3 - "$work/token" >"$work/tampered" <<'PY'
import base64, sys
t = open(sys.argv[1]).read().strip()
h, p, s = t.split(".")
claims = base64.urlsafe_b64decode(p + "=" * (-len(p) % 4))
forged = claims.replace(b'"customers/4821"', b'"customers/*"')
p = base64.urlsafe_b64encode(forged).rstrip(b"=").decode()
print(f"{h}.{p}.{s}")
PY
show_refusal "${verify[@]}" --action customers:read --resource customers/4821 - <"$work/tampered"

step "8. The same token an hour later: expired"
show_refusal "${verify[@]}" --now "$(($(date +%s) + 3600))" --action customers:read \
  --resource customers/4821 - <"$work/token"

step "9. A 1-hour token: the issuer refuses to mint it"
show_refusal "$tt" mint --key "$work/issuer.jwk" --iss https://auth.example --sub agent:x \
  --aud crm-api --task t --scope customers:read --res customers/4821 --ttl 1h

step "10. The task is done: revoke the token, publish the signed filter, verify again"
"$tt" revoke --db "$work/authority.db" - <"$work/token"
"$tt" filter build --db "$work/authority.db" --create --key "$work/issuer.jwk" \
  --iss https://auth.example \
  --out "$work/snapshot.bin" | head -4
show_refusal "${verify[@]}" --action customers:read --resource customers/4821 \
  --filter "$work/snapshot.bin" - <"$work/token"

step "11. Inspect decodes without verifying, and says so"
"$tt" inspect - <"$work/token"
echo
echo "demo complete"
