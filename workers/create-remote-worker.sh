#!/usr/bin/env bash
# Create a build worker on this machine that connects to a master on another one over
# TLS (workers/README.md). Run it on the worker host, as root for the buildroot backend.
#
#   create-remote-worker.sh [--ca CA.pem] [--venv DIR] [--checkout PATH] [--no-install] \
#       WORKERDIR MASTERHOST:PORT NAME PASSWORD
#
#   --ca CA.pem     trust this CA (or the master's self-signed certificate) only; without
#                   it the master's certificate must come from a CA the system trusts
#   --venv DIR      the worker's virtualenv (default /srv/bbworker/venv); made when absent
#   --checkout PATH a checkout of the master's buildbot-modules version (default: the one
#                   this script is in); its constraints.txt pins every version
#   --no-install    use the venv as it is (buildbot-worker and this project installed)
#
# Then: DIR/../venv/bin/buildbot-worker start WORKERDIR. The master needs
# worker_port = "ssl:PORT:privateKey=KEY.pem:certKey=CERT.pem" and NAME in `workers`.
set -euo pipefail

usage() { sed -n '4,16p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

ca="" venv="/srv/bbworker/venv" install=1
checkout="$(cd "$(dirname "$0")/.." && pwd)"
while [[ $# -gt 0 && "$1" == --* ]]; do
  case "$1" in
    --ca) ca="$2"; shift 2 ;;
    --venv) venv="$2"; shift 2 ;;
    --checkout) checkout="$2"; shift 2 ;;
    --no-install) install=0; shift ;;
    *) echo "create-remote-worker: unknown option $1" >&2; usage ;;
  esac
done
[[ $# -eq 4 ]] || usage
dir="$1" master="$2" name="$3" password="$4"
host="${master%:*}" port="${master##*:}"
if [[ "$host" == "$master" || -z "$port" || ! "$port" =~ ^[0-9]+$ ]]; then
  echo "create-remote-worker: MASTERHOST:PORT expected, got '$master' (e.g. master.example.org:9989)" >&2
  exit 2
fi
if [[ -e "$dir/buildbot.tac" ]]; then
  echo "create-remote-worker: $dir/buildbot.tac exists already (remove the folder to recreate it)" >&2
  exit 1
fi

if [[ $install -eq 1 ]]; then
  constraints="$checkout/constraints.txt"
  [[ -f "$constraints" ]] || { echo "create-remote-worker: no $constraints (--checkout PATH)" >&2; exit 1; }
  python="$(command -v python3.11 || command -v python3)"
  [[ -x "$venv/bin/python" ]] || "$python" -m venv "$venv"
  "$venv/bin/pip" install -q -c "$constraints" buildbot-worker 'twisted[tls]'
  "$venv/bin/pip" install -q -c "$constraints" "$checkout"
fi
[[ -x "$venv/bin/buildbot-worker" ]] || { echo "create-remote-worker: no buildbot-worker in $venv" >&2; exit 1; }

args=(create-worker --umask=0o22)
if [[ -n "$ca" ]]; then
  # Twisted's tls: endpoint checks the certificate against the PEM files in trustRoots
  # (a folder) and the name `host` against its subjectAltName.
  roots="$dir.trust"
  mkdir -p "$roots"
  cp "$ca" "$roots/ca.pem"
  args+=("--connection-string=tls:host=$host:port=$port:trustRoots=$(cd "$roots" && pwd)")
else
  args+=(--use-tls)
fi
"$venv/bin/buildbot-worker" "${args[@]}" "$dir" "$master" "$name" "$password"
echo "created $dir: start it with $venv/bin/buildbot-worker start $dir"
