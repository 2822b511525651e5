#!/usr/bin/env bash
# A real single-node SLURM on this machine (slurmctld + slurmd + munge), for testing `harness run
# --executor slurm` without a cluster. Needs Debian's slurm-wlm and munge (`.ci/run` installs them) and root
# (munged and slurmd run as root here).
#
#   scripts/slurm-localhost.sh start DIR   # config, state and logs under DIR; prints the SLURM_CONF line
#   scripts/slurm-localhost.sh stop DIR
#
# Clients (sbatch, squeue, scancel, dask-jobqueue) find this cluster through SLURM_CONF=DIR/slurm.conf;
# nothing is written under /etc/slurm. The node is this host with all its cores and 90% of its memory,
# one partition "debug", no accounting, no cgroups (proctrack/linuxproc), no GPUs.
set -euo pipefail

usage() { echo "usage: $0 start|stop DIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
action=$1
dir=$(mkdir -p "$2" && cd "$2" && pwd)
conf="$dir/slurm.conf"

start() {
    for cmd in slurmctld slurmd munged sinfo; do
        command -v "$cmd" >/dev/null || { echo "error: $cmd not found (apt-get install slurm-wlm munge)" >&2; exit 3; }
    done
    host=$(hostname -s)
    mem=$(awk '/MemTotal/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)
    cpus=$(nproc)
    mkdir -p "$dir/state" "$dir/spool"
    cat > "$conf" <<EOF
ClusterName=harness-localhost
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
    # munge: one daemon per machine, shared with anything else that uses it
    if ! munge -n >/dev/null 2>&1; then
        [ -s /etc/munge/munge.key ] || { mungekey --create 2>/dev/null || dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 2>/dev/null; }
        chown munge:munge /etc/munge/munge.key 2>/dev/null || true
        chmod 400 /etc/munge/munge.key
        mkdir -p /run/munge /var/log/munge /var/lib/munge
        munged --force
    fi
    SLURM_CONF=$conf slurmctld -f "$conf"
    SLURM_CONF=$conf slurmd -f "$conf"
    for _ in $(seq 1 60); do
        if SLURM_CONF=$conf sinfo -h -o %t 2>/dev/null | grep -q idle; then
            echo "export SLURM_CONF=$conf"
            return 0
        fi
        sleep 0.5
    done
    echo "error: the SLURM node did not become idle in 30 s; see $dir/slurmctld.log and $dir/slurmd.log" >&2
    exit 1
}

stop() {
    for daemon in slurmd slurmctld; do
        pidfile="$dir/$daemon.pid"
        if [ -s "$pidfile" ]; then
            kill "$(cat "$pidfile")" 2>/dev/null || true
        fi
    done
    for _ in $(seq 1 20); do
        alive=0
        for daemon in slurmd slurmctld; do
            pidfile="$dir/$daemon.pid"
            [ -s "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null && alive=1
        done
        [ $alive -eq 0 ] && return 0
        sleep 0.25
    done
}

case "$action" in
    start) start ;;
    stop) stop ;;
    *) usage ;;
esac
