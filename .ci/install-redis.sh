#!/usr/bin/env bash
# Installs Debian's redis-server for the API's queue tests (apps/api/test/queue.test.ts), which
# start their own server on a free loopback port. CI sets GENLAB_REQUIRE_REDIS=1, so a failed
# install shows up as a failing test rather than a silent skip.
set -u
if command -v redis-server >/dev/null 2>&1; then
  echo "redis-server present: $(redis-server --version 2>/dev/null || echo unknown version)"
  exit 0
fi
if command -v apt-get >/dev/null 2>&1; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=300 redis-server) >/dev/null 2>&1 \
    && echo "redis-server installed" || echo "redis-server could not be installed: the queue tests will fail (GENLAB_REQUIRE_REDIS=1)"
else
  echo "no apt-get: install redis-server yourself"
fi
exit 0
