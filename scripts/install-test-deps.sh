#!/usr/bin/env bash
# Debian packages the tests need beyond Asterisk and the Python environment. Idempotent; root.
set -euo pipefail
need=()
command -v sipp >/dev/null 2>&1 || need+=(sip-tester)   # SIPp: scripted SIP calls
command -v chromium >/dev/null 2>&1 || need+=(chromium)  # the browser tests' headless Chromium (Playwright drives it)
[ -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || need+=(fonts-wqy-microhei)  # CJK glyphs for the zh-CN screenshots
# PostgreSQL server binaries: tests/support/pgcluster.py runs a private cluster of its own (initdb in a temp folder,
# 127.0.0.1 only); the system's default cluster is never used.
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || need+=(postgresql)
# Dovecot: a real IMAP server for the mailbox-polling tests (tests/support/imapserver.py runs its own instance on
# 127.0.0.1 with a config in a temp folder; the package's own service is never started).
[ -x /usr/sbin/dovecot ] && [ -e /usr/lib/dovecot/imap ] || need+=(dovecot-imapd)
if [ ${#need[@]} -gt 0 ]; then
  echo "install-test-deps: installing ${need[*]}"
  apt-get update -qq
  # No daemon of a package starts during the install (policy-rc.d 101): dovecot's would listen on every interface.
  own_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && own_policy=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >/dev/null
  [ "$own_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d
  if [[ " ${need[*]} " == *" dovecot-imapd "* ]]; then
    (command -v doveadm >/dev/null && doveadm stop 2>/dev/null) || true  # in case something started it anyway
  fi
  # The package's postinst may create and start a default cluster (main, port 5432): not ours, so stop it (never drop it).
  if [[ " ${need[*]} " == *" postgresql "* ]] && command -v pg_lsclusters >/dev/null 2>&1; then
    pg_lsclusters --no-header 2>/dev/null | while read -r ver name _port status _rest; do
      if [[ "$status" == online* ]]; then
        echo "install-test-deps: stopping the default PostgreSQL cluster $ver/$name (the tests run their own)"
        pg_ctlcluster "$ver" "$name" stop || true
      fi
    done
  fi
fi
