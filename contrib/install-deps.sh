#!/bin/sh
# Installs the Debian 12 packages tributary needs to build, test and benchmark.
# Run as root. Safe to run again.
set -eu
PKGS="build-essential cmake pkg-config
libuv1-dev libcurl4-openssl-dev libxml2-dev libsqlite3-dev libpq-dev libjansson-dev libinih-dev
libh2o-dev zlib1g-dev libssl-dev postgresql-15 postgresql-client-15
jing python3 python3-feedparser sfeed newsboat nginx-light wrk clang clang-format libclang-rt-14-dev curl time valgrind
tidy chromium python3-aiosmtpd exim4-daemon-light openssl
libsystemd-dev dpkg-dev mandoc man-db systemd"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing="$missing $p"
done
if [ -n "$missing" ]; then
    export DEBIAN_FRONTEND=noninteractive
    # exim4-daemon-light (tests/e2e_mail_mta.py runs its own instance on a
    # loopback port, with its own config and spool) would otherwise start
    # the system's MTA on port 25: services may not start while installing
    # (policy-rc.d, as in Docker images; ours is removed again on exit).
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        trap 'rm -f /usr/sbin/policy-rc.d' EXIT
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
    fi
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing
fi
# Where a system (systemd) started exim4 anyway, it is stopped and kept
# from starting at boot: the tests need no MTA on port 25. Likewise the
# system's PostgreSQL cluster: the tests start servers of their own
# (tests/pgserver.py), on Unix sockets in temporary directories.
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    systemctl disable --now exim4 >/dev/null 2>&1 || true
    systemctl disable --now postgresql >/dev/null 2>&1 || true
elif [ -x /etc/init.d/exim4 ] && [ -e /run/exim4/exim.pid ]; then
    /etc/init.d/exim4 stop >/dev/null 2>&1 || true
fi
