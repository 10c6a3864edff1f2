#!/bin/bash
# The workspace's third-party browser files, from the npm registry, pinned by version and sha256
# (callcenter/workspace/static/vendor/, not in git). Idempotent.
#  - Chart.js (MIT): one file, pinned by the sha256 of the file we serve.
#  - SIP.js (MIT), the browser softphone's SIP over WebSocket (docs/softphone.md): plain ES modules
#    with no dependencies, served as they are (no build step); pinned by the sha256 of the npm
#    tarball, whose lib/*.js we serve under vendor/sip.js/.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=callcenter/workspace/static/vendor

need_npm() {
    if ! command -v npm >/dev/null; then
        echo "installing npm (Debian) to fetch the pages' browser libraries"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q npm >/dev/null
    fi
}

chartjs() {
    local version=4.6.1
    local sha=87364cc2b2a76a6684929e7d6b80b18a897794db38400caff1fcf1791c6925d2
    local file=$dest/chart.umd.min.js
    if [ -f "$file" ] && echo "$sha  $file" | sha256sum --check --status; then
        return 0
    fi
    need_npm
    local tmp
    tmp=$(mktemp -d)
    (cd "$tmp" && npm pack "chart.js@$version" --silent >/dev/null && tar xzf "chart.js-$version.tgz")
    if ! echo "$sha  $tmp/package/dist/chart.umd.min.js" | sha256sum --check --status; then
        echo "error: chart.js $version's chart.umd.min.js does not have the pinned sha256: refusing it" >&2
        rm -rf "$tmp"
        exit 2
    fi
    mkdir -p "$dest"
    cp "$tmp/package/dist/chart.umd.min.js" "$file.tmp"
    cp "$tmp/package/LICENSE.md" "$dest/chart.js-LICENSE.md"
    mv "$file.tmp" "$file"
    rm -rf "$tmp"
    echo "Chart.js $version installed: $file"
}

sipjs() {
    local version=0.21.2
    local sha=abbf374bccf50fdd0f659e24dd70a83a0bad09553bd16fa4b6c94021053f66cb  # sip.js-0.21.2.tgz
    local folder=$dest/sip.js
    # The stamp names the tarball we unpacked; the files are checked again against the list it made.
    if [ -f "$folder/.pinned" ] && [ "$(head -1 "$folder/.pinned")" = "$version $sha" ] \
        && (cd "$folder" && tail -n +2 .pinned | sha256sum --check --status); then
        return 0
    fi
    need_npm
    local tmp
    tmp=$(mktemp -d)
    (cd "$tmp" && npm pack "sip.js@$version" --silent >/dev/null)
    if ! echo "$sha  $tmp/sip.js-$version.tgz" | sha256sum --check --status; then
        echo "error: sip.js $version's tarball does not have the pinned sha256: refusing it" >&2
        rm -rf "$tmp"
        exit 2
    fi
    (cd "$tmp" && tar xzf "sip.js-$version.tgz")
    rm -rf "$folder.tmp"
    mkdir -p "$folder.tmp"
    local into
    into="$(pwd)/$folder.tmp"
    (cd "$tmp/package" && find lib -name '*.js' -exec install -D -m 0644 {} "$into/{}" \;)
    cp "$tmp/package/LICENSE.md" "$folder.tmp/LICENSE.md"
    { echo "$version $sha"; (cd "$folder.tmp" && find lib -name '*.js' | sort | xargs sha256sum); } > "$folder.tmp/.pinned"
    rm -rf "$folder"
    mv "$folder.tmp" "$folder"
    rm -rf "$tmp"
    echo "SIP.js $version installed: $folder/lib/index.js"
}

chartjs
sipjs
