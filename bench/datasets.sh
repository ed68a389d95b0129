#!/usr/bin/env bash
# Fetches a real data set into .data/ (ignored) and converts it for loading.
# Usage: bench/datasets.sh minilm
#   minilm: 778 all-MiniLM-L6-v2 sentence embeddings (384 dims, unit length)
#           with their texts, from the npm package @sap-ux/fiori-docs-embeddings
#           (Apache-2.0). Produces .data/minilm-384/docs.copy, a COPY text file
#           with columns (id, title, category, body, embedding).
set -euo pipefail
cd "$(dirname "$0")/.."

fetch_minilm() {
    local dir=.data/minilm-384
    [ -s "$dir/docs.copy" ] && return 0
    mkdir -p "$dir"
    local tmp
    tmp=$(mktemp -d)
    (cd "$tmp" && npm pack --silent @sap-ux/fiori-docs-embeddings@1.2.6 >/dev/null && tar xzf ./*.tgz)
    cp "$tmp/package/data/embeddings/embeddings.bin" "$tmp/package/data/embeddings/records.jsonl" "$dir/"
    rm -rf "$tmp"
    perl bench/minilm_to_copy.pl "$dir/embeddings.bin" "$dir/records.jsonl" 384 >"$dir/docs.copy.tmp"
    mv "$dir/docs.copy.tmp" "$dir/docs.copy"
}

case "${1:-}" in
    minilm) fetch_minilm ;;
    *) echo "usage: $0 minilm" >&2; exit 2 ;;
esac
