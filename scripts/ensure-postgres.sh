# Sourced by make: start the machine's PostgreSQL if needed and create the test database.
# Exports ORDERTRAIL_TEST_DATABASE_URL when a server answers; otherwise says so and leaves it unset,
# and the PostgreSQL tests skip with that reason.
_pg_url="${ORDERTRAIL_TEST_DATABASE_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/ordertrail_test}"
_pg_ready() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
if command -v pg_isready >/dev/null 2>&1; then
  if ! _pg_ready && command -v pg_ctlcluster >/dev/null 2>&1; then
    for _v in $(ls /etc/postgresql 2>/dev/null); do
      echo "ensure-postgres: starting PostgreSQL $_v"
      pg_ctlcluster --skip-systemctl-redirect "$_v" main start 2>&1 || true
    done
    for _i in $(seq 1 30); do _pg_ready && break; sleep 1; done
  fi
fi
if command -v psql >/dev/null 2>&1 && _pg_ready; then
  _db="${_pg_url##*/}"
  if ! psql -h 127.0.0.1 -U postgres -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname='${_db}'" | grep -q 1; then
    psql -h 127.0.0.1 -U postgres -d postgres -qc "CREATE DATABASE \"${_db}\"" && echo "ensure-postgres: created ${_db}"
  fi
  export ORDERTRAIL_TEST_DATABASE_URL="$_pg_url"
else
  echo "ensure-postgres: NO PostgreSQL server could be started; PostgreSQL tests will be SKIPPED" >&2
  unset ORDERTRAIL_TEST_DATABASE_URL
  export ORDERTRAIL_NO_POSTGRES=1
fi
