#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, in a temporary directory: the way to try dotcli's Slurm path
# (hydra/launcher=slurm, dot-reproduce --launcher slurm) on a laptop or in CI. No systemd, no cgroups:
# munged (its own key and socket), slurmctld and slurmd are started by this script, as root, with a minimal
# slurm.conf (this machine's CPUs and memory from `slurmd -C`, one partition, proctrack/linuxproc).
#
#   sudo scripts/slurm_local.sh install          # apt-get install slurm-wlm munge (when slurmctld is missing)
#   eval "$(sudo scripts/slurm_local.sh start)"  # start; prints the environment to export (SLURM_CONF, PATH)
#   dot-reproduce --only toy --launcher slurm hydra.launcher.gpus_per_node=0 hydra.launcher.cpus_per_task=1 ...
#   sudo scripts/slurm_local.sh stop             # cancel the jobs, stop the daemons, remove the directory
#   sudo scripts/slurm_local.sh run -- CMD ...   # start, run CMD with that environment, stop (also on error)
#
# There is no accounting database (slurmdbd): the `sacct` this script puts first on PATH answers submitit's
# state queries from `squeue` (finished jobs stay there for MinJobAge=3600 s). Each job's stdout/stderr is
# where submitit puts it: <sweep dir>/.submitit/<job id>/. The daemons' logs are in <dir>/log/.
# `start [DIR]` runs the cluster in DIR (default: a new mktemp -d /tmp/dotcli-slurm.XXXXXX); `stop [DIR]`
# stops the one in DIR (default: $DOTCLI_SLURM_DIR, which start prints). DOTCLI_SLURM_TIMEOUT: seconds to
# wait for the node to be idle (default 60).
set -euo pipefail

die() { echo "slurm_local.sh: $*" >&2; exit 1; }

install() {
  if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null; then
    return 0
  fi
  [ "$(id -u)" = 0 ] || die "slurmctld/slurmd/munged are not installed and installing them needs root (apt-get)"
  command -v apt-get >/dev/null || die "slurmctld/slurmd/munged are not installed and there is no apt-get here"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null
}

free_port() {  # a TCP port nobody listens on, from a random start (two clusters on one machine do not clash)
  local p=$(( 20000 + RANDOM % 20000 ))
  while (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; do p=$((p + 1)); done
  echo "$p"
}

# The pid in a pid file, if that process is still ours: its command line or environment names our directory.
own_pid() {
  local pid
  pid=$(cat "$1" 2>/dev/null) || return 1
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF "$DIR" && echo "$pid"
}

stop_pid() {  # TERM, then KILL after 10 s
  local pid=$1 i
  kill "$pid" 2>/dev/null || return 0
  for i in $(seq 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
}

stop() {
  DIR=${1:-${DOTCLI_SLURM_DIR:-}}
  [ -n "$DIR" ] && [ -f "$DIR/slurm.conf" ] || die "stop: no cluster directory (give it, or set DOTCLI_SLURM_DIR)"
  export SLURM_CONF=$DIR/slurm.conf
  if own_pid "$DIR/run/slurmctld.pid" >/dev/null; then  # cancel every job first: their steps end with them
    scancel --quiet --user="$(id -un)" 2>/dev/null || true
    local left
    for _ in $(seq 100); do left=$(squeue -h -t R,CG,PD 2>/dev/null) || break; [ -z "$left" ] && break; sleep 0.2; done
  fi
  local name pid
  for name in slurmd slurmctld; do
    pid=$(own_pid "$DIR/run/$name.pid") && stop_pid "$pid"
  done
  # job steps whose slurmd is gone (slurmstepd carries our marker in its environment, inherited from slurmd)
  for pid in $(pgrep -x slurmstepd || true); do
    tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -qxF "DOTCLI_SLURM_CLUSTER=$DIR" && stop_pid "$pid"
  done
  pid=$(own_pid "$DIR/run/munged.pid") && stop_pid "$pid"
  rm -rf "$DIR"
}

start() {
  install
  [ "$(id -u)" = 0 ] || die "start: slurmd must run as root here (SlurmUser=root, no cgroups)"
  if [ -n "${1:-}" ]; then mkdir -p "$1"; DIR=$(cd "$1" && pwd); else DIR=$(mktemp -d /tmp/dotcli-slurm.XXXXXX); fi
  [ ! -e "$DIR/slurm.conf" ] || die "start: $DIR already holds a cluster (stop it first)"
  trap 'echo "slurm_local.sh: start failed; the daemons logs are in $DIR/log (removed now):" >&2;
        tail -n 20 "$DIR"/log/*.log >&2 2>/dev/null || true; stop "$DIR"' ERR
  chmod 755 "$DIR"  # other users may submit (munge socket reachable); the key stays 0600
  mkdir -p "$DIR"/{munge,state,spool,run,log,bin}
  export DOTCLI_SLURM_CLUSTER=$DIR  # marks our daemons' (and job steps') environment, for stop

  mungekey --create --keyfile="$DIR/munge/munge.key" 2>/dev/null ||
    { dd if=/dev/urandom of="$DIR/munge/munge.key" bs=1024 count=1 status=none; }
  chmod 600 "$DIR/munge/munge.key"
  munged --force --key-file="$DIR/munge/munge.key" --socket="$DIR/munge/munge.socket" \
    --pid-file="$DIR/run/munged.pid" --log-file="$DIR/log/munged.log" --seed-file="$DIR/munge/munged.seed" \
    </dev/null >>"$DIR/log/munged.log" 2>&1

  local node hw
  node=$(hostname -s)
  hw=$(slurmd -C | head -n 1 | sed -e 's/^NodeName=[^ ]* //')  # CPUs=.. Boards=.. ... RealMemory=..
  : >"$DIR/plugstack.conf"
  cat >"$DIR/slurm.conf" <<EOF
# dotcli's one-node test cluster (scripts/slurm_local.sh); everything lives in $DIR
ClusterName=dotcli
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$(free_port)
SlurmdPort=$(free_port)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$DIR/munge/munge.socket
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/run/slurmctld.pid
SlurmdPidFile=$DIR/run/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
PlugStackConfig=$DIR/plugstack.conf
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
ReturnToService=2
MinJobAge=3600
KillWait=5
InactiveLimit=0
NodeName=$node NodeAddr=127.0.0.1 $hw State=UNKNOWN
PartitionName=local Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF
  # sacct without slurmdbd: submitit asks `sacct -o JobID,State,NodeList --parsable2 -j ID ...`
  cat >"$DIR/bin/sacct" <<'EOF'
#!/usr/bin/env bash
# sacct for a cluster without accounting (scripts/slurm_local.sh): JobID|State|NodeList of the -j jobs from squeue
jobs=()
while [ $# -gt 0 ]; do case $1 in -j) jobs+=("$2"); shift 2;; -j*) jobs+=("${1#-j}"); shift;; *) shift;; esac; done
echo "JobID|State|NodeList"
[ ${#jobs[@]} -eq 0 ] && exit 0
ids=$(IFS=,; echo "${jobs[*]}")
squeue -h --states=all --array -j "$ids" -o '%i|%T|%N' 2>/dev/null || true
EOF
  chmod 755 "$DIR/bin/sacct"
  export SLURM_CONF=$DIR/slurm.conf

  local t0=$SECONDS
  slurmctld -f "$SLURM_CONF" -i </dev/null >>"$DIR/log/slurmctld.log" 2>&1
  slurmd -f "$SLURM_CONF" </dev/null >>"$DIR/log/slurmd.log" 2>&1
  local timeout=${DOTCLI_SLURM_TIMEOUT:-60} state=""
  while [ $((SECONDS - t0)) -lt "$timeout" ]; do
    state=$(sinfo -h -N -o '%T' 2>/dev/null || true)
    [ "$state" = idle ] && break
    sleep 0.5
  done
  [ "$state" = idle ] || { echo "slurm_local.sh: node not idle after ${timeout}s (state: ${state:-none})" >&2; false; }
  trap - ERR
  cat <<EOF
export DOTCLI_SLURM_DIR=$DIR
export SLURM_CONF=$SLURM_CONF
export PATH=$DIR/bin:\$PATH
EOF
}

case ${1:-} in
  install) install ;;
  start) start "${2:-}" ;;
  stop) stop "${2:-}" ;;
  run)
    shift
    [ "${1:-}" = "--" ] && shift
    [ $# -gt 0 ] || die "run: no command (run -- CMD ...)"
    env_lines=$(start)
    eval "$env_lines"
    trap 'stop "$DOTCLI_SLURM_DIR"' EXIT
    trap 'exit 130' INT TERM
    status=0
    "$@" || status=$?
    exit "$status"
    ;;
  *) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
