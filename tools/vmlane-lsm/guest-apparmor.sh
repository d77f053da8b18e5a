#!/bin/bash
# Inside the guest (check-apparmor boots it, REPO and TESTS set): the
# AppArmor tests, then Docker running containers through runsc under its
# docker-default profile.
set -u
R=$REPO/target/x86_64-unknown-linux-musl/debug/runsc
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
echo "== $(uname -r); AppArmor enabled: $(cat /sys/module/apparmor/parameters/enabled);" \
    "LSMs: $(cat /sys/kernel/security/lsm)"
failed=0
check() { echo "\$ $*"; "$@"; local rc=$?; echo "[rc=$rc]"; [ $rc = 0 ] || failed=1; }
cd /tmp
for t in ${TESTS//,/ }; do
    case $t in
        */lsm-*) check "$t" --test-threads=1 ;;
        */clients-*) check "$t" --test-threads=1 docker_runs_containers_through_runsc ;;
    esac
done

echo "== Docker, runsc as a runtime, docker-default profile"
containerd >/tmp/containerd.log 2>&1 &
dockerd --add-runtime "runsc=$R" --iptables=false --ip6tables=false --bridge=none \
    >/tmp/dockerd.log 2>&1 &
for _ in $(seq 120); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
docker info 2>/dev/null | grep -A2 'Security Options'
"$REPO/tools/mkrootfs" /tmp/img sh >/dev/null
tar -C /tmp/img/rootfs -c . | docker import - local/busybox >/dev/null
# docker-default denies mount even to a container holding CAP_SYS_ADMIN.
show='cat /proc/self/attr/current; mount -t tmpfs none /mnt && echo mounted'
run=(docker run --rm --runtime runsc --network none --cap-add SYS_ADMIN
     --security-opt seccomp=unconfined)
out=$("${run[@]}" local/busybox sh -c "$show" 2>&1); echo "$out"
case $out in "docker-default (enforce)"*"Permission denied"*) ;; *) failed=1 ;; esac
out=$("${run[@]}" --security-opt apparmor=unconfined local/busybox sh -c "$show" 2>&1); echo "$out"
case $out in unconfined*mounted*) ;; *) failed=1 ;; esac
docker run -d --name c1 --runtime runsc --network none local/busybox sleep 1000 >/dev/null
for p in $(pgrep -x sleep); do echo "host: /proc/$p/attr/current: $(cat /proc/$p/attr/current)"; done
out=$(docker exec c1 cat /proc/self/attr/current); echo "docker exec: $out"
[ "$out" = "docker-default (enforce)" ] || failed=1
docker rm -f c1 >/dev/null
exit $failed
