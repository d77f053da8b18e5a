#!/bin/bash
# Inside the guest (tools/vmtest/run boots it; REPO, TESTS, THREADS set):
# each test binary in turn, then a check that no unit, cgroup or process of
# ours is left.
set -u
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
echo "== guest: kernel $(uname -r), $(systemctl --version | head -1)," \
    "/sys/fs/cgroup is $(stat -fc %T /sys/fs/cgroup), PID 1 is $(cat /proc/1/comm)"
cd /tmp
failed=""
for t in ${TESTS//,/ }; do
    name=$(basename "$t"); name=${name%-*}
    t0=$(date +%s)
    echo "== $name"
    "$t" --test-threads="$THREADS" 2>&1
    rc=$?
    echo "== $name: rc=$rc in $(( $(date +%s) - t0 ))s"
    [ $rc = 0 ] || failed="$failed $name"
done
echo "== left behind"
left=$(systemctl list-units --all --plain --no-legend 'runsc-*' 'docker-*.scope' 'ctr-*' 2>&1;
       find /sys/fs/cgroup -name '*runsc*' 2>&1; pgrep -a -f 'runsc (boot|gofer)' 2>&1)
if [ -n "$left" ]; then echo "$left"; failed="$failed leftovers"; else echo "nothing"; fi
if [ -n "$failed" ]; then echo "== FAILED:$failed"; exit 1; fi
echo "== all passed"
