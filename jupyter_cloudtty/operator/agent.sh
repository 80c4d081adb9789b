# A pool pod's container (`sh -c <this> ttyd`; POSIX sh, so any image with sh, ttyd and coreutils).
# Until a shell claims the pod, ttyd serves one terminal under the pod's agent token (from the pool
# pod's own Secret, never in the pod's spec) on ttyd's port, where the readiness probe finds it. The
# operator opens that terminal through the API server, types the shell's assignment in base64 and
# ends it with ^D; base64 writes it to a file only this user may read, and the agent's ttyd exits
# (-o: after its one client). The assignment (pool_objects.assignment) exports the shell's token and
# env, sets ttyd's arguments after any of ours (the tests' node adds -i <pod IP>), and puts the
# cold container's script in $u: run as the container's process, it is the same pod as a cold one.
a="${CLOUDTTY_AGENT_TOKEN:?}"
unset CLOUDTTY_AGENT_TOKEN
m=$(umask)
umask 077
f=/tmp/.cloudtty-assignment
ttyd -o -m 1 -W -p 7681 -b "/cloudtty-pool/$a" "$@" sh -c 'stty -echo 2>/dev/null; exec base64 -d >"$0"' "$f" &
w=$!
unset a
# Deleted before any shell claimed it: end as a stopped shell pod does.
trap 'kill "$w" 2>/dev/null; exit 143' TERM
wait "$w" || exit 1
trap - TERM
umask "$m"
[ -s "$f" ] || exit 1
. "$f"
rm -f "$f"
unset f m w
exec sh -c "$u" ttyd "$@"
