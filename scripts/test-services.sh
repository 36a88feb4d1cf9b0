#!/usr/bin/env bash
# Make sure what the tests talk to is here: a real Redis and Debian's headless Chromium.
set -euo pipefail
if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  if ! command -v redis-server >/dev/null 2>&1; then
    echo "==> installing redis-server"
    $(command -v sudo || true) apt-get update -qq && $(command -v sudo || true) apt-get install -y -qq redis-server
  fi
  echo "==> starting redis on 127.0.0.1:6379"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
  for _ in $(seq 1 50); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 0.1; done
fi
if [ ! -x /usr/bin/chromium ]; then
  echo "==> installing Debian's chromium for the browser tests"
  $(command -v sudo || true) apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $(command -v sudo || true) apt-get install -y -qq chromium chromium-driver
fi
if ! docker compose version >/dev/null 2>&1 && ! command -v docker-compose >/dev/null 2>&1; then
  echo "==> installing Debian's docker-compose (the tests validate docker-compose.yml with it)"
  $(command -v sudo || true) apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $(command -v sudo || true) apt-get install -y -qq docker-compose
fi
