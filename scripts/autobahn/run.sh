#!/bin/sh
# Run the Autobahn TestSuite's fuzzing client against a roost echo server on 127.0.0.1:9001.
#
# The suite (wstest, from the autobahntestsuite package) is Python 2.7 code. Give it with
# WSTEST=/path/to/wstest, or have `wstest` on PATH (for example from a pyenv 2.7 interpreter:
# see README.md). The report lands in scripts/autobahn/reports/servers/ (index.html, index.json)
# and the cases that are not OK are printed; the exit status is 1 when there are any.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
wstest=${WSTEST:-$(command -v wstest || true)}
if [ -z "$wstest" ]; then
    echo "wstest not found: set WSTEST or see $here/README.md" >&2
    exit 2
fi
python=${PYTHON:-$root/.venv/bin/python}
data=$(mktemp -d)
# Cases 9.x send messages of up to 16 MiB; 12.x and 13.x need permessage-deflate (excluded).
ROOST_PORT=9001 ROOST_DATA_DIR=$data ROOST_MAX_MESSAGE_SIZE=$((20 * 1024 * 1024)) \
    "$python" -m roost serve "$here/echo.py" &
server=$!
trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 50); do
    if "$python" -c "import socket; socket.create_connection(('127.0.0.1', 9001), 1)" 2>/dev/null
    then break; fi
    sleep 0.2
done
cd "$here"
"$wstest" -m fuzzingclient -s fuzzingclient.json
"$python" "$here/summarize.py" "$here/reports/servers/index.json"
