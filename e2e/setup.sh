#!/usr/bin/env bash
# Installs the real servers the e2e suite runs against, when they are missing.
# Idempotent: what is installed is reused. Debian packages only (DESIGN.md).
set -euo pipefail

need=()
command -v git >/dev/null || need+=(git)
command -v docker-registry >/dev/null || need+=(docker-registry)
command -v prometheus >/dev/null || need+=(prometheus)
command -v prometheus-alertmanager >/dev/null || need+=(prometheus-alertmanager)
/usr/bin/python3 -c 'import aiosmtpd' 2>/dev/null || need+=(python3-aiosmtpd)
command -v chromium >/dev/null || need+=(chromium)
command -v etcd >/dev/null || need+=(etcd-server)

if ((${#need[@]})); then
  if [ "$(id -u)" != 0 ]; then
    echo "e2e/setup.sh: need root to install: ${need[*]}" >&2
    exit 1
  fi
  echo "e2e/setup.sh: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# Packages may ship services we do not want: tests start their own on loopback.
for svc in docker-registry prometheus prometheus-node-exporter prometheus-alertmanager etcd; do
  if command -v systemctl >/dev/null && systemctl is-active --quiet "$svc" 2>/dev/null; then
    systemctl stop "$svc" || true
  fi
done
echo "e2e/setup.sh: git $(git --version | cut -d' ' -f3), docker-registry $(docker-registry --version 2>/dev/null | awk '{print $3}'), prometheus $(prometheus --version 2>&1 | awk 'NR==1{print $3}')"
