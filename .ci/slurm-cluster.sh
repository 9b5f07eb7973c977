#!/usr/bin/env bash
# A single-node SLURM cluster on localhost for CI and local tests of the SLURM profile.
#
#   bash .ci/slurm-cluster.sh start    # install slurm-wlm + munge if missing, start munged, slurmctld, slurmd
#   bash .ci/slurm-cluster.sh status   # daemons, node state, queue
#   bash .ci/slurm-cluster.sh stop     # cancels this cluster's jobs, stops exactly the daemons it started
#
# Needs root (CI and the dev machines run as root); no systemd. Everything lives in one state folder,
# $ASTROTUNE_SLURM_DIR (default /tmp/astrotune-slurm): slurm.conf, gres.conf, the munge key and socket,
# daemon logs, PID files. Client commands (sbatch, squeue, srun inside jobs, which never sees SLURM_CONF
# because the plugin strips SLURM_* variables) find the cluster through a symlink
# /etc/slurm/slurm.conf -> $ASTROTUNE_SLURM_DIR/slurm.conf; start refuses to replace an existing
# /etc/slurm/slurm.conf of another cluster, stop removes only its own symlink.
#
# The node has one fake GPU (GresTypes=gpu, gres.conf `Name=gpu File=/dev/null`; a count-only gres line
# drains the node) and declares more CPUs and memory than the machine has (SlurmdParameters=config_overrides),
# so the project's SLURM profile, written for real GPU nodes, is accepted unchanged; jobs share the real cores.
# Job status: no slurmdbd, so the SLURM profile must use `slurm-status-command: squeue`; MinJobAge=3600 keeps
# finished jobs visible to squeue and `scontrol show job` for an hour (the plugin needs >= 3x its first status
# interval; tests read the finished jobs back).
# Finished jobs are also logged to $ASTROTUNE_SLURM_DIR/jobcomp.log (jobcomp/filetxt), one line per job.
set -euo pipefail

STATE=${ASTROTUNE_SLURM_DIR:-/tmp/astrotune-slurm}
PARTITION=${ASTROTUNE_SLURM_PARTITION:-astrotune}
NODE_CPUS=${ASTROTUNE_SLURM_CPUS:-16}
NODE_MEM_MB=${ASTROTUNE_SLURM_MEM_MB:-64000}
CTLD_PORT=${ASTROTUNE_SLURM_PORT:-6817}
CONF=$STATE/slurm.conf
SYSTEM_CONF=/etc/slurm/slurm.conf
PIDS=$STATE/pids

log() { echo "slurm-cluster: $*" >&2; }

install_packages() {
    if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null; then
        return
    fi
    log "installing slurm-wlm and munge"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
}

running_pids() {
    [[ -f $PIDS ]] || return 0
    local pid
    while read -r _name pid; do
        if kill -0 "$pid" 2>/dev/null; then echo "$pid"; fi
    done <"$PIDS"
}

write_config() {
    local slurm_libdir
    slurm_libdir=$(dirname "$(dpkg -L slurm-wlm-basic-plugins 2>/dev/null | grep -m1 '/select_cons_tres.so$')")
    mkdir -p "$STATE"/{ctld,spool,log,munge}
    chmod 700 "$STATE" "$STATE/munge"
    cat >"$CONF" <<EOF
ClusterName=astrotune-ci
SlurmctldHost=$(hostname -s)(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$((CTLD_PORT + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$STATE/munge/munge.socket.2
PluginDir=$slurm_libdir
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/spool
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
MpiDefault=none
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$STATE/jobcomp.log
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1000
MinJobAge=3600
ReturnToService=2
SlurmdParameters=config_overrides
GresTypes=gpu
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$NODE_CPUS RealMemory=$NODE_MEM_MB Gres=gpu:1 State=UNKNOWN
PartitionName=$PARTITION Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
    echo "Name=gpu File=/dev/null" >"$STATE/gres.conf"
    if [[ -e $SYSTEM_CONF && $(readlink "$SYSTEM_CONF") != "$CONF" ]]; then
        log "$SYSTEM_CONF exists and is not ours; refusing to replace it"
        exit 1
    fi
    mkdir -p "$(dirname "$SYSTEM_CONF")"
    ln -sfn "$CONF" "$SYSTEM_CONF"
}

wait_for_idle() {
    local state=""
    for _ in $(seq 1 60); do
        state=$(sinfo -h -N -n localhost -o %T 2>/dev/null || true)
        if [[ $state == idle* || $state == mixed* || $state == allocated* ]]; then
            log "node localhost is $state (partition $PARTITION, config $SYSTEM_CONF -> $CONF)"
            return 0
        fi
        sleep 0.5
    done
    log "node did not become idle (state: '${state:-unknown}')"
    scontrol show node localhost >&2 || true
    tail -n 20 "$STATE/log/slurmctld.log" "$STATE/log/slurmd.log" >&2 || true
    return 1
}

start() {
    if [[ -n $(running_pids) ]]; then
        log "already running (state in $STATE)"
        wait_for_idle
        return
    fi
    install_packages
    rm -rf "$STATE"
    write_config
    mungekey --create --keyfile="$STATE/munge/munge.key" --force 2>/dev/null \
        || dd if=/dev/urandom of="$STATE/munge/munge.key" bs=1024 count=1 status=none
    chmod 400 "$STATE/munge/munge.key"
    munged --force --key-file="$STATE/munge/munge.key" --socket="$STATE/munge/munge.socket.2" \
        --pid-file="$STATE/munge/munged.pid" --log-file="$STATE/log/munged.log" \
        --seed-file="$STATE/munge/munged.seed"
    echo "munged $(cat "$STATE/munge/munged.pid")" >>"$PIDS"
    slurmctld -f "$CONF"
    for _ in $(seq 1 50); do [[ -s $STATE/slurmctld.pid ]] && break; sleep 0.1; done
    echo "slurmctld $(cat "$STATE/slurmctld.pid")" >>"$PIDS"
    slurmd -f "$CONF" -N localhost
    for _ in $(seq 1 50); do [[ -s $STATE/slurmd.pid ]] && break; sleep 0.1; done
    echo "slurmd $(cat "$STATE/slurmd.pid")" >>"$PIDS"
    wait_for_idle
}

stop() {
    if [[ ! -f $PIDS ]]; then
        log "not started (no $PIDS)"
        return
    fi
    local jobs
    jobs=$(squeue -h -o %i 2>/dev/null || true)
    if [[ -n $jobs ]]; then
        log "cancelling jobs: $(echo $jobs)"
        # shellcheck disable=SC2086
        scancel $jobs || true
        for _ in $(seq 1 50); do [[ -z $(squeue -h -o %i 2>/dev/null) ]] && break; sleep 0.2; done
    fi
    # Stop in reverse start order: slurmd, slurmctld, munged.
    local name pid
    tac "$PIDS" | while read -r name pid; do
        if kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid"
            for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
            if kill -0 "$pid" 2>/dev/null; then
                log "$name ($pid) ignored SIGTERM; sending SIGKILL"
                kill -KILL "$pid" || true
            fi
            log "stopped $name ($pid)"
        fi
    done
    rm -f "$PIDS"
    if [[ $(readlink "$SYSTEM_CONF") == "$CONF" ]]; then rm -f "$SYSTEM_CONF"; fi
}

status() {
    if [[ -z $(running_pids) ]]; then
        log "not running"
        return 1
    fi
    cat "$PIDS"
    sinfo -N -o "%N %P %T %c %m %G"
    squeue
}

case ${1:-} in
    start) start ;;
    stop) stop ;;
    status) status ;;
    *)
        echo "usage: $0 start|stop|status" >&2
        exit 2
        ;;
esac
