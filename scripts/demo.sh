#!/usr/bin/env bash
# `make run`'s demo: once parleyd answers, a bot posts a welcome into room
# "lobby" (idempotent: the same client_msg_id each run), then prints the one
# command that opens a chat with the server.
set -u
build=${1:-build}
db=${2:-var/parley.db}
url=${3:-http://127.0.0.1:8080}

for _ in $(seq 1 100); do
    curl -fsS "$url/healthz" >/dev/null 2>&1 && break
    sleep 0.1
done
if ! curl -fsS "$url/healthz" >/dev/null 2>&1; then
    echo "demo: parleyd did not come up at $url" >&2
    exit 1
fi

secret=$(cat "$db.secret")
bot=$("$build/parley" token --secret "$secret" --sub parley-bot --name "Parley bot" --ttl 60)
"$build/parley" --url "$url" --token "$bot" \
    -c 'join lobby' \
    -c 'send --id welcome-1 lobby Welcome to Parley! Say hi, or type /help for the commands.' \
    >/dev/null || echo "demo: the welcome message could not be posted" >&2

cat <<MSG

parleyd is running at $url (database $db). Chat in another terminal:

  $build/parley-chat --url $url --user \${USER:-me} --register lobby

(it asks for a password; next time leave out --register). Open it in a
second terminal as someone else to talk to yourself. The operator's shell,
with every event of the protocol:

  $build/parley --url $url --token "\$($build/parley token --secret "\$(cat $db.secret)" --sub \${USER:-me})"

MSG
