#!/usr/bin/env bash
# Install and start what the test suite needs beyond Python packages:
# PostgreSQL (guard's log store), Chromium (the HTML report test) and Java 17
# (the Spark engine's tests, which fail rather than skip without it).
set -euo pipefail
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v pg_ctlcluster >/dev/null 2>&1 || need+=(postgresql)
command -v java >/dev/null 2>&1 || need+=(openjdk-17-jre-headless)
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# PostgreSQL for the guard's log-store tests: start the Debian cluster, create a
# role that may create databases (each test makes its own), and leave its DSN where
# tests/guard/conftest.py looks for it. Without this file the tests start a
# temporary cluster of their own with initdb.
PG_DSN_FILE=/tmp/distillscope-ci/pg.env
if command -v pg_lsclusters >/dev/null 2>&1; then
  cluster=$(pg_lsclusters --no-header 2>/dev/null | awk 'NR==1 {print $1" "$2}')
  if [ -z "$cluster" ]; then
    version=$(ls /usr/lib/postgresql | sort -V | tail -1)
    pg_createcluster "$version" main >/dev/null
    cluster="$version main"
  fi
  # shellcheck disable=SC2086
  pg_ctlcluster $cluster start >/dev/null 2>&1 || pg_ctlcluster $cluster status >/dev/null
  port=$(pg_lsclusters --no-header | awk -v v="${cluster% *}" -v n="${cluster#* }" '$1==v && $2==n {print $3}')
  runuser -u postgres -- psql -q -p "$port" -v ON_ERROR_STOP=1 <<'SQL'
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'distillscope') THEN
    CREATE ROLE distillscope LOGIN CREATEDB PASSWORD 'distillscope';
  END IF;
END $$;
SQL
  if ! runuser -u postgres -- psql -p "$port" -tAc "SELECT 1 FROM pg_database WHERE datname='distillscope_test'" | grep -q 1; then
    runuser -u postgres -- createdb -p "$port" -O distillscope distillscope_test
  fi
  mkdir -p "$(dirname "$PG_DSN_FILE")"
  echo "DISTILLSCOPE_TEST_PG_DSN=postgresql://distillscope:distillscope@127.0.0.1:${port}/distillscope_test" > "$PG_DSN_FILE"
  echo "[ci-services] PostgreSQL $cluster on port $port; DSN in $PG_DSN_FILE"
fi
