#!/usr/bin/env bash
# Install Asterisk (>= 20) for callcenter. Idempotent; run as root.
#
# Order of preference (docs/asterisk.md#install says why):
#   1. an `asterisk` >= 20 already on PATH is used as it is;
#   2. the distribution's own package, when it is >= 20 and installing it upgrades no libc;
#   3. Debian sid's packages in a minimal sid root in a folder (default /opt/callcenter/asterisk-root),
#      run later with chroot. Nothing on the host is upgraded.
# It prints what it did. The controller finds the result by itself (callcenter/asterisk/install.py).
set -euo pipefail

ROOT=${CALLCENTER_ASTERISK_ROOT:-/opt/callcenter/asterisk-root}
# The uid/gid Asterisk runs as inside the root: fixed, so it never collides with a host user
# (the package would otherwise take the next free uid, which can be a host user's, e.g. postgres).
# It is a system uid (< 1000) so the package's own adduser --system accepts the existing user.
AST_UID=${CALLCENTER_ASTERISK_UID:-640}
PACKAGES="asterisk asterisk-modules asterisk-core-sounds-en asterisk-core-sounds-en-gsm asterisk-moh-opsound-gsm"
MIRROR=${CALLCENTER_DEBIAN_MIRROR:-}

say() { echo "install-asterisk: $*"; }
die() { echo "install-asterisk: error: $*" >&2; exit 1; }

major_of() { sed -n 's/^Asterisk \([0-9]\+\).*/\1/p' | head -n1; }

# 1. Asterisk already on PATH.
if command -v asterisk >/dev/null 2>&1; then
  v=$(asterisk -V 2>/dev/null || true)
  if [ "$(echo "$v" | major_of)" -ge 20 ] 2>/dev/null; then
    say "using $v already on PATH ($(command -v asterisk))"; exit 0
  fi
  say "ignoring $(command -v asterisk): '$v' is older than 20"
fi

# 3 (checked first because it is cheap): our sid root is already there.
if [ -x "$ROOT/usr/sbin/asterisk" ] && [ -f "$ROOT/.callcenter-ready" ]; then
  say "using $(chroot "$ROOT" /usr/sbin/asterisk -V) in $ROOT (already installed)"; exit 0
fi

[ "$(id -u)" -eq 0 ] || die "must run as root to install Asterisk (try: sudo $0)"

# 2. The distribution's package, only if it is >= 20 and does not drag a libc upgrade.
if command -v apt-get >/dev/null 2>&1; then
  apt-get update -qq || true
  cand=$(apt-cache policy asterisk 2>/dev/null | sed -n 's/^ *Candidate: *//p')
  if [ -n "$cand" ] && [ "$cand" != "(none)" ]; then
    upstream=$(echo "$cand" | sed 's/^[0-9]*://; s/[.~+-].*//')
    if [ "$upstream" -ge 20 ] 2>/dev/null; then
      if apt-get -s install $PACKAGES 2>/dev/null | grep -q '^Inst libc6 '; then
        say "distribution asterisk $cand would upgrade libc6: not using it"
      else
        say "installing the distribution's asterisk $cand"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q $PACKAGES
        say "installed $(asterisk -V)"; exit 0
      fi
    else
      say "distribution asterisk is $cand (< 20): not using it"
    fi
  else
    say "no asterisk package in this distribution's suites"
  fi
fi

# 3. A minimal Debian sid root in a folder.
command -v mmdebstrap >/dev/null 2>&1 || { say "installing mmdebstrap"; DEBIAN_FRONTEND=noninteractive apt-get install -y -q mmdebstrap; }
if [ -z "$MIRROR" ]; then
  # Use the mirror this machine already uses, so no new host is contacted.
  MIRROR=$( (grep -h '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null; grep -h '^deb ' /etc/apt/sources.list 2>/dev/null) \
            | grep -v security | head -n1 | awk '{print $2}' || true)
  MIRROR=${MIRROR:-http://deb.debian.org/debian}
fi
say "building a minimal sid root in $ROOT from $MIRROR (about 30 s)"
rm -rf "$ROOT.tmp"; mkdir -p "$(dirname "$ROOT")"
# The mirror may be a frozen snapshot: do not reject its old Release file.
mmdebstrap --variant=minbase --aptopt='Acquire::Check-Valid-Until "false"' \
  --customize-hook='echo "Acquire::Check-Valid-Until \"false\";" > "$1/etc/apt/apt.conf.d/99no-check-valid"' \
  --essential-hook='printf "#!/bin/sh\nexit 101\n" > "$1/usr/sbin/policy-rc.d"; chmod 755 "$1/usr/sbin/policy-rc.d"' \
  --essential-hook="echo 'asterisk:x:$AST_UID:' >> \"\$1/etc/group\"" \
  --essential-hook="echo 'asterisk:x:$AST_UID:$AST_UID:Asterisk PBX daemon:/var/lib/asterisk:/usr/sbin/nologin' >> \"\$1/etc/passwd\"" \
  --include="$(echo $PACKAGES | tr ' ' ',')" \
  sid "$ROOT.tmp" "$MIRROR" >"/tmp/install-asterisk.$$.log" 2>&1 \
  || { tail -n 30 "/tmp/install-asterisk.$$.log" >&2; die "mmdebstrap failed (full log: /tmp/install-asterisk.$$.log)"; }
rm -f "/tmp/install-asterisk.$$.log"
# Asterisk must not look anything up off this machine (the host's resolver may be remote).
echo "nameserver 127.0.0.1" > "$ROOT.tmp/etc/resolv.conf"
rm -rf "$ROOT"; mv "$ROOT.tmp" "$ROOT"
touch "$ROOT/.callcenter-ready"
say "installed $(chroot "$ROOT" /usr/sbin/asterisk -V) in $ROOT ($(du -sh "$ROOT" | cut -f1))"
