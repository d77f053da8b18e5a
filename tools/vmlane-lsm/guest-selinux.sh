#!/bin/bash
# Inside the SELinux guest (check-selinux boots it, REPO set). The policy is
# Debian's refpolicy, which has no container_t: the labels are types it has.
set -u
R=$REPO/target/x86_64-unknown-linux-musl/debug/runsc
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
label() { tr -d '\0' < "$1"; }
echo "== $(uname -r); LSMs: $(cat /sys/kernel/security/lsm); enforce=$(cat /sys/fs/selinux/enforce);" \
    "we run as $(label /proc/self/attr/current)"
failed=0
cd /tmp
"$REPO/tools/mkrootfs" /tmp/b sh -c \
    'tr -d "\\0" < /proc/self/attr/current; echo; grep -E " /dev | /dev/pts | /dev/shm " /proc/self/mountinfo' >/dev/null
jq '.process.selinuxLabel="system_u:system_r:initrc_t:s0" | .linux.mountLabel="system_u:object_r:etc_t:s0"' \
    /tmp/b/config.json > /tmp/b/c && mv /tmp/b/c /tmp/b/config.json
echo "-- runsc run"; ours=$("$R" run -b /tmp/b s1 2>&1); echo "$ours"
echo "-- runc run"; theirs=$(runc run -b /tmp/b r1 2>&1); echo "$theirs"
# Same label and mount options as runc's (mount ids and devices differ).
strip() { sed -E 's/^[0-9]+ [0-9]+ [0-9]+:[0-9]+ //'; }
[ "$(echo "$ours" | strip)" = "$(echo "$theirs" | strip)" ] || { echo "differs from runc"; failed=1; }
case $ours in "system_u:system_r:initrc_t:s0"*"context=system_u:object_r:etc_t:s0"*) ;; *) failed=1 ;; esac

"$REPO/tools/mkrootfs" /tmp/c sleep 1000 >/dev/null
jq '.process.selinuxLabel="system_u:system_r:initrc_t:s0"' /tmp/c/config.json > /tmp/c/x && mv /tmp/c/x /tmp/c/config.json
"$R" run -d -b /tmp/c s2 </dev/null >/dev/null 2>&1
for p in $(pgrep -x sleep); do echo "host: /proc/$p/attr/current: $(label /proc/$p/attr/current)"; done
out=$("$R" exec s2 cat /proc/self/attr/current | tr -d '\0'); echo "exec: $out"
[ "$out" = system_u:system_r:initrc_t:s0 ] || failed=1
out=$("$R" exec --process-label system_u:system_r:kernel_t:s0 s2 cat /proc/self/attr/current | tr -d '\0')
echo "exec --process-label: $out"; [ "$out" = system_u:system_r:kernel_t:s0 ] || failed=1
"$R" delete -f s2
exit $failed
