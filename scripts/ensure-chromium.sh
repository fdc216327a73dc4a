#!/usr/bin/env bash
# Install Debian's chromium for the browser tests when it is missing (needs root, as on CI).
set -u
if [ -x /usr/bin/chromium ]; then exit 0; fi
if [ "$(id -u)" -ne 0 ]; then
  echo "ensure-chromium: /usr/bin/chromium missing and not root; browser tests will be skipped" >&2
  exit 0
fi
echo "ensure-chromium: installing Debian's chromium"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null && apt-get install -y -qq chromium >/dev/null \
  || echo "ensure-chromium: install failed; browser tests will be skipped" >&2
exit 0
