#!/bin/sh
# The authenticated request path under wrk, against a running `shouhu serve --demo`:
# signs in as the street officer of 长桥街道 and POSTs the request_path bench's
# query with that token at 32 keep-alive connections. See docs/benchmarks.md.
#
#   server/benches/request_path_wrk.sh [http://127.0.0.1:8080] [seconds]
set -eu
base=${1:-http://127.0.0.1:8080}
seconds=${2:-10}
login='{"query":"mutation { login(tenant: \"wuzhong\", username: \"changqiao\", '
login=$login'password: \"shouhu-demo-2026\") { token } }"}'
token=$(curl -sf -H 'content-type: application/json' -d "$login" "$base/graphql" \
  | sed -n 's/.*"token":"\([^"]*\)".*/\1/p')
[ -n "$token" ] || { echo "sign-in failed" >&2; exit 1; }
script=$(mktemp --suffix .lua)
trap 'rm -f "$script"' EXIT
cat > "$script" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $token"
wrk.body = '{"query":"{ orgUnits(first: 10) { edges { node { id code name } } } }"}'
LUA
# One request first, so that a wrong answer is seen rather than measured.
curl -sf -H 'content-type: application/json' -H "authorization: Bearer $token" \
  -d '{"query":"{ orgUnits(first: 10) { edges { node { id code name } } } }"}' \
  "$base/graphql" | head -c 200; echo
wrk -t2 -c32 -d"${seconds}s" --latency -s "$script" "$base/graphql"
