#!/bin/bash
# The workspace's one third-party browser file: Chart.js (MIT) from the npm registry, pinned by version
# and by the sha256 of the file we serve (callcenter/workspace/static/vendor/, not in git). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
version=4.6.1
sha=87364cc2b2a76a6684929e7d6b80b18a897794db38400caff1fcf1791c6925d2
dest=callcenter/workspace/static/vendor
file=$dest/chart.umd.min.js
if [ -f "$file" ] && echo "$sha  $file" | sha256sum --check --status; then
    exit 0
fi
if ! command -v npm >/dev/null; then
    echo "installing npm (Debian) to fetch Chart.js"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q npm >/dev/null
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack "chart.js@$version" --silent >/dev/null && tar xzf "chart.js-$version.tgz")
if ! echo "$sha  $tmp/package/dist/chart.umd.min.js" | sha256sum --check --status; then
    echo "error: chart.js $version's chart.umd.min.js does not have the pinned sha256: refusing it" >&2
    exit 2
fi
mkdir -p "$dest"
cp "$tmp/package/dist/chart.umd.min.js" "$file.tmp"
cp "$tmp/package/LICENSE.md" "$dest/chart.js-LICENSE.md"
mv "$file.tmp" "$file"
echo "Chart.js $version installed: $file"
