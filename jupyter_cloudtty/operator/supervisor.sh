# What runs ttyd in a shell's pod, as the container's process: POSIX sh and /proc, so any shell image
# has what it needs. Sourced by the container's command (manifests.ttyd_command) after
# `ttyd ... & p=$!`, with n set to the idle timeout in seconds (0: none).
#
# A stop from outside (SIGTERM: the pod deleted, evicted, its node drained) ends the container with
# 143, never 0: ttyd itself exits 0 on SIGTERM, and a Job counts a pod that exits 0 as done, so a
# deleted pod would end its shell instead of being replaced (the Job's podFailurePolicy replaces
# one that exits 143, uncounted). ttyd's own end (a `once` shell's last client gone) keeps ttyd's
# status.
#
# The idle rule: every `step` seconds it looks at ttyd's terminals (each child of ttyd is one's
# first process, its session's leader). The shell is quiet when no process of them read or wrote a
# byte (/proc/PID/io) and none started or ended; it is at work, whatever it prints, while any
# terminal runs more than its shell at the prompt: the foreground process group is the shell alone,
# and the session holds nothing else (server/backends/local/foreground.py has the rule, and why,
# for local shells). Quiet for n seconds: ttyd is stopped and the container exits 75 (the Job's
# podFailurePolicy fails the Job on it, without a retry), saying why in its termination message.
trap 'kill -TERM $p 2>/dev/null; stopped=1' TERM INT HUP
stopped=
step=10
[ "$n" -lt 40 ] && step=$(( (n + 3) / 4 ))
quiet=0 last= blank=$IFS
while [ "$n" -gt 0 ] && [ -z "$stopped" ]; do
  sleep "$step" & wait $!
  read -r st < /proc/$p/stat 2>/dev/null || break
  set -- ${st##*) }
  [ "$1" = Z ] && break
  leaders= seen= busy=
  for f in /proc/[0-9]*/stat; do
    read -r st < "$f" 2>/dev/null || continue
    x=${f#/proc/}; x=${x%/stat}
    set -- ${st##*) }
    [ "$2" = "$p" ] && leaders="$leaders $x"
    seen="$seen $x:$2:$3:$4:$6"
  done
  print=
  for s in $leaders; do
    count=0 infg=0 shell= parent=
    for e in $seen; do
      IFS=:; set -- $e; IFS=$blank; x=$1 pp=$2 pg=$3 sid=$4 tp=$5
      [ "$sid" = "$s" ] || continue
      count=$((count + 1))
      # tp: its terminal's foreground group, the same for every process of the session
      [ "$pg" = "$tp" ] && { infg=$((infg + 1)); shell=$x; parent=$pp; }
      if [ -r /proc/$x/io ]; then
        while read -r k v; do
          case $k in rchar:|wchar:) print="$print $x:$v" ;; esac
        done < /proc/$x/io
      else
        print="$print $x"
      fi
    done
    case $(tr '\0' ' ' < /proc/$s/cmdline 2>/dev/null) in
      "sh -c "*|*"/sh -c "*) want=2; [ "$parent" = "$s" ] || busy=1 ;;
      *) want=1; [ "$shell" = "$s" ] || busy=1 ;;
    esac
    [ "$infg" = 1 ] && [ "$count" = "$want" ] || busy=1
  done
  if [ -n "$busy" ] || [ "$print" != "$last" ]; then
    quiet=0 last=$print
  else
    quiet=$((quiet + step))
  fi
  if [ "$quiet" -ge "$n" ]; then
    echo "no input or output for ${n}s" > /dev/termination-log 2>/dev/null
    kill -TERM $p 2>/dev/null
    wait $p
    exit 75
  fi
done
wait $p; rc=$?
while [ -d /proc/$p ]; do wait $p; rc=$?; done  # a trapped signal cuts a wait short
[ -n "$stopped" ] && exit 143
exit $rc
