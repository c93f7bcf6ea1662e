#!/usr/bin/env bash
# A private one-machine SLURM for trying the job scripts: munged, slurmctld and slurmd from
# Debian's munge and slurm-wlm, started as root with a generated slurm.conf and munge key,
# every file (state, spool, logs, pid files, socket) in one folder, ports of its own. It
# neither uses nor touches a system SLURM or munge that may be running.
#
# As a library (tests/slurm/slurm_jobs.sh): . cluster.sh; cluster_start DIR; ...; cluster_stop DIR
# By hand:  tests/slurm/cluster.sh start DIR    then   export SLURM_CONF=DIR/slurm.conf
#           tests/slurm/cluster.sh stop DIR     cancels its jobs, stops it, removes DIR
#
# One node named after 'hostname -s' with CPUs=8 whatever the machine has
# (SlurmdParameters=config_overrides), so 8-rank jobs fit on a 2-core machine; one partition.

CLUSTER_CPUS=${CLUSTER_CPUS:-8}

cluster_log() { echo "cluster: $*" >&2; }

# cluster_client CMD...: a SLURM command that may not hang the caller.
cluster_client() { timeout -k 5 60 "$@"; }

# cluster_port_free PORT: nothing listens on PORT of 127.0.0.1.
cluster_port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# cluster_tail DIR: the end of every log (CLUSTER_TAIL lines, 15 by default), to show why
# something did not start.
cluster_tail() {
    local f
    for f in "$1"/log/*.log; do
        [ -s "$f" ] || continue
        echo "---- $f (last ${CLUSTER_TAIL:-15} lines)" >&2
        tail -n "${CLUSTER_TAIL:-15}" "$f" >&2
    done
}

# cluster_start DIR: starts munged, slurmctld and slurmd with their files in DIR (created,
# must be new or empty) and exports SLURM_CONF=DIR/slurm.conf. Returns 1, with the reason on
# stderr, when a program is missing or a daemon does not come up within its deadline.
cluster_start() {
    local dir=$1 b host port ctld_port="" slurmd_port="" mpi=none i state
    for b in slurmctld slurmd sbatch srun scontrol squeue scancel sinfo; do
        command -v "$b" >/dev/null 2>&1 ||
            { cluster_log "slurm-wlm is not installed (no $b): run jobs/setup.sh"; return 1; }
    done
    for b in munged munge unmunge; do
        command -v "$b" >/dev/null 2>&1 ||
            { cluster_log "munge is not installed (no $b): run jobs/setup.sh"; return 1; }
    done
    [ "$(id -u)" -eq 0 ] ||
        { cluster_log "must run as root: slurmd starts every job as its user, and SlurmUser is root"; return 1; }
    mkdir -p "$dir" || return 1
    dir=$(cd "$dir" && pwd)
    # munged wants its socket's folder (and every parent) searchable by all, its key private.
    chmod 755 "$dir"
    mkdir -p "$dir/munge" "$dir/state" "$dir/spool" "$dir/log" "$dir/run" "$dir/tmp" || return 1
    chmod 755 "$dir/munge"
    host=$(hostname -s)

    # 1. munge, with a key of its own
    if command -v mungekey >/dev/null 2>&1; then
        mungekey --create --keyfile="$dir/munge/munge.key" || return 1
    else
        dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none || return 1
    fi
    chmod 600 "$dir/munge/munge.key"
    munged --key-file="$dir/munge/munge.key" --socket="$dir/munge/munge.socket" \
        --pid-file="$dir/run/munged.pid" --log-file="$dir/log/munged.log" \
        --seed-file="$dir/munge/munged.seed" </dev/null >"$dir/log/munged.out" 2>&1 ||
        { cluster_log "munged did not start: $(cat "$dir/log/munged.out")"; cluster_tail "$dir"; return 1; }
    munge -s cluster-check -S "$dir/munge/munge.socket" | unmunge -S "$dir/munge/munge.socket" >/dev/null ||
        { cluster_log "munge cannot encode and decode a credential with its own munged"; cluster_tail "$dir"; return 1; }

    # 2. two free ports, from 16817 up
    for port in $(seq 16817 2 16897); do
        if cluster_port_free "$port" && cluster_port_free $((port + 1)); then
            ctld_port=$port slurmd_port=$((port + 1))
            break
        fi
    done
    [ -n "$ctld_port" ] || { cluster_log "no two free ports between 16817 and 16898"; return 1; }

    # 3. slurm.conf; MpiDefault=pmix when this SLURM has the plugin
    cluster_write_conf "$dir" "$host" "$ctld_port" "$slurmd_port" none
    export SLURM_CONF=$dir/slurm.conf
    if srun --mpi=list 2>&1 | grep -qw pmix; then
        mpi=pmix
        cluster_write_conf "$dir" "$host" "$ctld_port" "$slurmd_port" pmix
    fi

    # 4. the daemons; they fork into the background and write their pid files
    slurmctld -f "$SLURM_CONF" </dev/null >"$dir/log/slurmctld.out" 2>&1 ||
        { cluster_log "slurmctld did not start: $(cat "$dir/log/slurmctld.out")"; cluster_tail "$dir"; return 1; }
    slurmd -f "$SLURM_CONF" -N "$host" </dev/null >"$dir/log/slurmd.out" 2>&1 ||
        { cluster_log "slurmd did not start: $(cat "$dir/log/slurmd.out")"; cluster_tail "$dir"; return 1; }

    # 5. the node must register and become idle (60 s)
    state=""
    for i in $(seq 300); do
        state=$(cluster_client sinfo -h -n "$host" -o %T 2>/dev/null | head -n 1)
        [ "$state" = idle ] && break
        sleep 0.2
    done
    if [ "$state" != idle ]; then
        cluster_log "node $host is '${state:-unknown}', not idle, 60 s after the daemons started"
        cluster_tail "$dir"
        return 1
    fi
    cluster_log "up: node $host (CPUs=$CLUSTER_CPUS on $(nproc) cores), ports $ctld_port/$slurmd_port, MpiDefault=$mpi, SLURM_CONF=$SLURM_CONF"
}

# cluster_write_conf DIR HOST CTLD_PORT SLURMD_PORT MPI
cluster_write_conf() {
    local dir=$1 host=$2
    cat >"$dir/slurm.conf" <<EOF
# Generated by tests/slurm/cluster.sh: a private one-machine SLURM, all files in $dir.
ClusterName=mpitraintest
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$3
SlurmdPort=$4
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge/munge.socket
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
PlugStackConfig=$dir/plugstack.conf
TmpFS=$dir/tmp
# No cgroups: processes tracked through /proc, no binding
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/builtin
# The node may claim more CPUs than the machine has
SlurmdParameters=config_overrides
MpiDefault=$5
ReturnToService=2
# Batch jobs may be requeued (the job scripts requeue themselves after USR1)
JobRequeue=1
KillWait=15
MailProg=/bin/true
NodeName=$host NodeAddr=127.0.0.1 NodeHostname=$host CPUs=$CLUSTER_CPUS State=UNKNOWN
PartitionName=test Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
    : >"$dir/plugstack.conf"
}

# cluster_alive PID: the process runs (a zombie, dead but not yet reaped, does not count).
cluster_alive() {
    local stat
    stat=$(ps -o stat= -p "$1" 2>/dev/null) && [ -n "$stat" ] && [ "${stat#Z}" = "$stat" ]
}

# cluster_pids DIR: processes of this cluster still running: the daemons, and every process
# whose environment points at DIR/slurm.conf (slurmstepd, batch shells, srun, ranks), except
# those of the caller's own session (the caller and the commands it runs).
cluster_pids() {
    local dir=$1 own pid sid f
    own=$(ps -o sid= -p $$ | tr -d ' ')
    for f in "$dir"/run/*.pid; do
        [ -r "$f" ] || continue
        pid=$(cat "$f" 2>/dev/null)
        [ -n "$pid" ] && cluster_alive "$pid" && echo "$pid"
    done
    ps -eo pid=,sid= | while read -r pid sid; do
        [ "$sid" = "$own" ] && continue
        tr '\0' '\n' 2>/dev/null <"/proc/$pid/environ" | grep -qxF "SLURM_CONF=$dir/slurm.conf" && echo "$pid"
    done
    return 0
}

# cluster_stop DIR: cancels the cluster's jobs, stops its daemons and any process left of
# them (TERM, then KILL), removes DIR. Returns 1 when a process outlives all of that.
cluster_stop() {
    local dir=$1 pid i left f
    [ -d "$dir" ] || return 0
    dir=$(cd "$dir" && pwd)
    if [ -r "$dir/slurm.conf" ] && [ -r "$dir/run/slurmctld.pid" ] &&
        cluster_alive "$(cat "$dir/run/slurmctld.pid")"; then
        SLURM_CONF=$dir/slurm.conf cluster_client scancel --user="$(id -un)" >/dev/null 2>&1
        for i in $(seq 100); do # until the jobs are gone, 20 s at most
            [ -z "$(SLURM_CONF=$dir/slurm.conf cluster_client squeue -h -o %i 2>/dev/null |
                head -n 1)" ] && break
            sleep 0.2
        done
    fi
    for f in slurmd slurmctld munged; do
        [ -r "$dir/run/$f.pid" ] && kill -TERM "$(cat "$dir/run/$f.pid")" 2>/dev/null
    done
    for i in $(seq 75); do # 15 s for everything to end by itself
        left=$(cluster_pids "$dir")
        [ -z "$left" ] && break
        [ "$i" -eq 25 ] && kill -TERM $left 2>/dev/null
        sleep 0.2
    done
    left=$(cluster_pids "$dir")
    if [ -n "$left" ]; then
        kill -KILL $left 2>/dev/null
        sleep 0.5
        left=$(cluster_pids "$dir")
    fi
    if [ -n "$left" ]; then
        cluster_log "still running after SIGKILL: $(ps -o pid=,args= -p "$(echo $left | tr ' ' ',')" 2>/dev/null)"
        return 1
    fi
    rm -rf -- "$dir"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    case ${1-}:${2-} in
        start:?*)
            cluster_start "$2" || { cluster_stop "$2"; exit 1; }
            echo "export SLURM_CONF=$SLURM_CONF"
            ;;
        stop:?*) cluster_stop "$2" ;;
        *)
            echo "usage: tests/slurm/cluster.sh start|stop DIR" >&2
            exit 2
            ;;
    esac
fi
