#!/bin/sh
# Installs the Debian 12 packages tributary needs to build, test and benchmark.
# Run as root. Safe to run again.
set -eu
PKGS="build-essential cmake pkg-config
libuv1-dev libcurl4-openssl-dev libxml2-dev libsqlite3-dev libjansson-dev libinih-dev
libh2o-dev zlib1g-dev libssl-dev
jing python3 python3-feedparser sfeed newsboat nginx-light wrk clang clang-format libclang-rt-14-dev curl time valgrind
tidy chromium python3-aiosmtpd"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing="$missing $p"
done
if [ -n "$missing" ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing
fi
