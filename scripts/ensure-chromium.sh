#!/usr/bin/env bash
# Makes sure a headless Chromium is at hand for the explorer's browser test
# (node/explorer/browser_test.go). Where one is on PATH (or AONODE_CHROMIUM names one) it does
# nothing. Otherwise, as root on a machine with apt, it installs Debian's chromium package.
# Elsewhere it says why it could not, and exits 0: the test then prints one SKIP line.
set -euo pipefail

for name in "${AONODE_CHROMIUM:-}" chromium chromium-browser google-chrome google-chrome-stable headless-shell; do
  if [ -n "$name" ] && command -v "$name" >/dev/null 2>&1; then
    exit 0
  fi
done
if [ "$(id -u)" != 0 ]; then
  echo "ensure-chromium: no Chromium on PATH and not root: the explorer's browser test will skip" >&2
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-chromium: no Chromium on PATH and no apt-get: the explorer's browser test will skip" >&2
  exit 0
fi
echo "ensure-chromium: installing Debian's chromium (apt-get)" >&2
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }; then
  echo "ensure-chromium: apt-get could not install chromium: the explorer's browser test will skip" >&2
fi
exit 0
