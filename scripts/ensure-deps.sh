#!/usr/bin/env bash
# Makes a fresh Debian/Ubuntu checkout runnable; idempotent, quiet when there is nothing to do.
#  - apt packages chromium, ffmpeg, nats-server when missing (sudo when not root); with --test also
#    prometheus (promtool: the tests lint /metrics, the dashboards' queries and the shipped rules)
#  - npm ci when node_modules is missing or package-lock.json changed since the last install
#  - build: tsc (incremental) and the command-center page bundle (ui/ -> dist/ui)
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v ffmpeg >/dev/null 2>&1 || need+=(ffmpeg)
command -v nats-server >/dev/null 2>&1 || need+=(nats-server)
if [ -z "${LIVEPROBE_CHROMIUM:-}" ] && [ ! -x /usr/lib/chromium/chromium ] && ! command -v chromium >/dev/null 2>&1; then
  need+=(chromium)
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
apt_install() {
  echo "liveprobe: installing $* (apt)" >&2
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}
if [ ${#need[@]} -gt 0 ]; then apt_install "${need[@]}"; fi
# promtool only (the server's recommends, node exporters and the like, are not needed).
if [ "${1:-}" = "--test" ] && ! command -v promtool >/dev/null 2>&1; then
  apt_install --no-install-recommends prometheus
fi

stamp=node_modules/.liveprobe-lock-sum
sum=$(sha1sum package-lock.json | cut -c1-40)
if [ ! -d node_modules ] || [ "$(cat "$stamp" 2>/dev/null || true)" != "$sum" ]; then
  echo "liveprobe: npm ci" >&2
  PUPPETEER_SKIP_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error
  echo "$sum" > "$stamp"
fi

npm run -s build
