#!/usr/bin/env bash
# Debian packages the tests need beyond Asterisk and the Python environment. Idempotent; root.
set -euo pipefail
need=()
command -v sipp >/dev/null 2>&1 || need+=(sip-tester)   # SIPp: scripted SIP calls
if [ ${#need[@]} -gt 0 ]; then
  echo "install-test-deps: installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >/dev/null
fi
