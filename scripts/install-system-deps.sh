#!/usr/bin/env bash
# Debian packages the controller uses at run time. Idempotent; root.
#   espeak-ng + sox: `say:` prompts of IVR flows become telephone audio when a flow is loaded
#   graphviz:        `callcenter flow graph NAME -o flow.svg`
set -euo pipefail
need=()
command -v espeak-ng >/dev/null 2>&1 || need+=(espeak-ng)
command -v sox >/dev/null 2>&1 || need+=(sox)
command -v dot >/dev/null 2>&1 || need+=(graphviz)
if [ ${#need[@]} -gt 0 ]; then
  echo "install-system-deps: installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >/dev/null
fi
