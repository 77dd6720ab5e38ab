#!/usr/bin/env bash
# Builds the example plugins into plugins/examples/out/ and checks that the
# committed default matcher (plugins/builtin/default-matcher.wasm) is exactly
# the AssemblyScript matcher built from this source.
#
#   plugins/examples/build.sh                   build and check
#   plugins/examples/build.sh --update-builtin  build, then replace the
#                                               committed default matcher
#
# Needs Debian's clang, lld, wasi-libc and libclang-rt-dev-wasm32 for the C
# example, and Node with `npm ci` run in as-matcher/ for AssemblyScript.
# CC may name another clang (wasi-sdk's, say) and WASI_SYSROOT its sysroot.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
out="$here/out"
builtin="$here/../builtin/default-matcher.wasm"
cc="${CC:-clang}"

update_builtin=false
case "${1:-}" in
    "") ;;
    --update-builtin) update_builtin=true ;;
    *) echo "usage: $0 [--update-builtin]" >&2; exit 2 ;;
esac

missing() {
    echo "build.sh: $1" >&2
    exit 1
}

c_packages="clang lld wasi-libc libclang-rt-dev-wasm32"
command -v "$cc" >/dev/null || missing "no $cc; on Debian: apt-get install $c_packages"
command -v wasm-ld >/dev/null || missing "no wasm-ld; on Debian: apt-get install lld"

c_flags=(--target=wasm32-wasi -O2 -std=c11 -Wall -Wextra -Werror)
if [[ -n "${WASI_SYSROOT:-}" ]]; then
    c_flags+=("--sysroot=$WASI_SYSROOT")
fi
# clang prints just the file name back when it cannot find the file.
libc="$("$cc" "${c_flags[@]}" -print-file-name=libc.a)"
[[ -f "$libc" ]] || missing "no WASI sysroot (libc.a); on Debian: apt-get install wasi-libc"
builtins="$("$cc" "${c_flags[@]}" -print-libgcc-file-name)"
[[ -f "$builtins" ]] ||
    missing "no wasm32 compiler-rt builtins ($builtins); on Debian: apt-get install" \
        "libclang-rt-dev-wasm32"

asc="$here/as-matcher/node_modules/.bin/asc"
command -v node >/dev/null || missing "no node; install Node.js 18 or later"
[[ -x "$asc" ]] || missing "no AssemblyScript compiler; run: (cd $here/as-matcher && npm ci)"

mkdir -p "$out"

echo "== c-eligibility"
# --strip-debug drops the DWARF of wasi-libc (90 KiB) but keeps function
# names, so a trap's backtrace still reads.
"$cc" "${c_flags[@]}" -Wl,--strip-debug \
    "$here/c-eligibility/eligibility.c" "$here/c-eligibility/json.c" \
    -o "$out/c-eligibility.wasm"
echo "   $out/c-eligibility.wasm ($(wc -c <"$out/c-eligibility.wasm") bytes)"

echo "== c-eligibility-abi2"
"$cc" "${c_flags[@]}" -Wl,--strip-debug \
    "$here/c-eligibility-abi2/eligibility.c" -o "$out/c-eligibility-abi2.wasm"
echo "   $out/c-eligibility-abi2.wasm ($(wc -c <"$out/c-eligibility-abi2.wasm") bytes)"

echo "== as-matcher"
# From its own folder: asconfig.json's paths are relative to it.
(cd "$here/as-matcher" && "$asc" assembly/index.ts --config asconfig.json --target release)
echo "   $out/as-matcher.wasm ($(wc -c <"$out/as-matcher.wasm") bytes)"

echo "== default matcher"
if $update_builtin; then
    cp "$out/as-matcher.wasm" "$builtin"
    echo "   replaced plugins/builtin/default-matcher.wasm; bump the version in" \
        "default-matcher.toml"
elif ! cmp -s "$out/as-matcher.wasm" "$builtin"; then
    echo "build.sh: plugins/builtin/default-matcher.wasm is not the as-matcher built from" \
        "this source. If the matcher changed on purpose, run build.sh --update-builtin," \
        "bump the version in default-matcher.toml and commit both." >&2
    exit 1
else
    echo "   plugins/builtin/default-matcher.wasm matches its source"
fi
