#!/usr/bin/env bash
# Installs what the test suite needs that pip cannot give, from Debian: the real Alertmanager/amtool
# and Prometheus/promtool binaries, a PostgreSQL server for the PostgreSQL store's tests, and
# chromium (with a font) that the web console's browser tests drive through Playwright (never
# `playwright install`). Idempotent; does nothing when they are present.
#
# PostgreSQL: the tests use 127.0.0.1:5432 as user `postgres` without a password (each run creates
# and drops databases of its own). A server that already answers there that way is used as it is.
# Otherwise Debian's `postgresql` is installed (if no cluster exists), local TCP connections as
# `postgres` are trusted (one line at the top of pg_hba.conf, marked `alertmedic-tests`: loopback
# only) and the cluster is started with pg_ctlcluster (no systemd needed, e.g. in a container).
set -euo pipefail
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive

apt_install() {
  echo "system-deps: installing $* from Debian"
  # The packages' maintainer scripts would start system services; we start what we need ourselves.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
    $sudo chmod +x /usr/sbin/policy-rc.d
    trap '$sudo rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

postgres_ok() {
  command -v psql >/dev/null &&
    PGCONNECT_TIMEOUT=5 psql -w -h 127.0.0.1 -p 5432 -U postgres -d postgres -Atqc 'SELECT 1' >/dev/null 2>&1
}

need=()
command -v prometheus-alertmanager >/dev/null || need+=(prometheus-alertmanager)
command -v amtool >/dev/null || need+=(prometheus-alertmanager)
command -v prometheus >/dev/null || need+=(prometheus)
command -v promtool >/dev/null || need+=(prometheus)
[ -x /usr/bin/chromium ] || need+=(chromium)
[ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need+=(fonts-dejavu-core)
if ! postgres_ok && ! ls -d /etc/postgresql/*/main >/dev/null 2>&1; then
  need+=(postgresql)
fi
# The reliability tests that restart the database run a private server of their own (initdb +
# pg_ctl, tests/e2e/pgprivate.py), even when a server on 5432 came from elsewhere.
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
if [ ${#need[@]} -gt 0 ]; then
  # shellcheck disable=SC2046
  apt_install $(printf '%s\n' "${need[@]}" | sort -u)
fi

if ! postgres_ok; then
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  conf=/etc/postgresql/$version/main
  if ! $sudo grep -q alertmedic-tests "$conf/pg_hba.conf"; then
    echo "system-deps: trusting local TCP connections as postgres in $conf/pg_hba.conf"
    $sudo sed -i '1i host all postgres 127.0.0.1/32 trust # alertmedic-tests\nhost all postgres ::1/128 trust # alertmedic-tests' \
      "$conf/pg_hba.conf"
  fi
  if pg_isready -q -h 127.0.0.1 -p 5432; then
    $sudo pg_ctlcluster --skip-systemctl-redirect "$version" main reload
  else
    echo "system-deps: starting PostgreSQL $version"
    $sudo pg_ctlcluster --skip-systemctl-redirect "$version" main start
  fi
  for _ in $(seq 60); do
    postgres_ok && break
    sleep 0.5
  done
  if ! postgres_ok; then
    echo "system-deps: PostgreSQL on 127.0.0.1:5432 does not accept user postgres without a password" >&2
    exit 1
  fi
fi
