#!/usr/bin/env bash
# make bench-baseline: our pipeline against the usual build (a Go consumer,
# Redis for the hotlist, PostgreSQL for the passages) on the same generated
# reads. Installs redis-server and postgresql from Debian packages if they
# are missing, runs throwaway instances on loopback in a temporary
# directory (PostgreSQL as the postgres user when run as root, which initdb
# refuses), runs naive, tuned and `anpr bench e2e`, and prints the table.
#
#   READS=1000000 NAIVE_READS=100000 WORKERS=4 bash bench/baseline/run.sh
#
# The naive consumer gets the first NAIVE_READS of the same reads: at a few
# thousand reads per second a million would take many minutes.
set -euo pipefail
cd "$(dirname "$0")/../.."

READS=${READS:-1000000}
NAIVE_READS=${NAIVE_READS:-100000}
WORKERS=${WORKERS:-4}
PGPORT=${PGPORT:-55432}
REDISPORT=${REDISPORT:-56379}

if ! command -v redis-server >/dev/null || ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
	[ "$(id -u)" = 0 ] || { echo "bench-baseline: install redis-server and postgresql (apt-get) first" >&2; exit 1; }
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server postgresql >/dev/null
fi
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)

tmp=$(mktemp -d /tmp/anpr-baseline.XXXXXX)
chmod 755 "$tmp"
mkdir "$tmp/pg"
as_pg=()
if [ "$(id -u)" = 0 ]; then
	id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
	chown postgres "$tmp/pg"
	as_pg=(runuser -u postgres --)
fi
cleanup() {
	rc=$?
	if [ "$rc" != 0 ]; then # the logs go with $tmp: show what failed first
		for f in "$tmp"/*.log; do [ -s "$f" ] && { echo "== $f" >&2; tail -20 "$f" >&2; }; done
	fi
	"${as_pg[@]}" "$PGBIN/pg_ctl" -D "$tmp/pg/data" -m fast stop >/dev/null 2>&1 || true
	redis-cli -p "$REDISPORT" shutdown nosave >/dev/null 2>&1 || true
	rm -rf "$tmp"
}
trap cleanup EXIT

"${as_pg[@]}" "$PGBIN/initdb" -D "$tmp/pg/data" -U anpr -A trust >/dev/null
# Durable as ours (fsync, synchronous_commit on); memory and checkpoints
# set as a team would for a write-heavy table.
"${as_pg[@]}" "$PGBIN/pg_ctl" -D "$tmp/pg/data" -l "$tmp/pg/log" -w start -o \
	"-c listen_addresses=127.0.0.1 -p $PGPORT -k $tmp/pg -c shared_buffers=1GB -c max_wal_size=8GB \
	 -c checkpoint_timeout=30min -c wal_buffers=64MB -c fsync=on -c synchronous_commit=on" >/dev/null
redis-server --bind 127.0.0.1 --port "$REDISPORT" --save '' --appendonly no --daemonize yes \
	--dir "$tmp" --logfile "$tmp/redis.log" >/dev/null
for _ in $(seq 50); do redis-cli -p "$REDISPORT" ping >/dev/null 2>&1 && break; sleep 0.1; done

go build -o bin/anpr ./cmd/anpr
(cd bench/baseline && go vet . && go test . >/dev/null && go build -o ../../bin/baseline .)
pg="host=127.0.0.1 port=$PGPORT user=anpr dbname=postgres"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
./bin/baseline run --mode naive --reads "$NAIVE_READS" --workers "$WORKERS" --redis "127.0.0.1:$REDISPORT" --postgres "$pg" --json 2>"$tmp/naive.log" | tee "$tmp/naive.json"
./bin/baseline run --mode tuned --reads "$READS" --workers "$WORKERS" --redis "127.0.0.1:$REDISPORT" --postgres "$pg" --json 2>"$tmp/tuned.log" | tee "$tmp/tuned.json"
./bin/anpr bench e2e --reads "$READS" --json --log-level warn | tee "$tmp/ours.json"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
./bin/baseline report "$tmp/naive.json" "$tmp/tuned.json" "$tmp/ours.json"
