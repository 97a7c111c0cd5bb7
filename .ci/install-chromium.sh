#!/usr/bin/env bash
# Installs Debian's Chromium for the API's playground browser test (apps/api/test/browser.test.ts).
# Never fails the build: without Chromium that test skips with a message.
set -u
if [ -x /usr/bin/chromium ]; then
  echo "chromium present: $(/usr/bin/chromium --version 2>/dev/null || echo unknown version)"
  exit 0
fi
if command -v apt-get >/dev/null 2>&1; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=300 chromium) >/dev/null 2>&1 \
    && echo "chromium installed" || echo "chromium could not be installed: the browser test will skip"
else
  echo "no apt-get: the browser test will skip"
fi
exit 0
