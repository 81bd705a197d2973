"""A throwaway single-node SLURM cluster on loopback: munged, slurmctld and slurmd from Debian's
``slurm-wlm`` and ``munge``, configured in a temporary folder (no system files touched).

Needs root (slurmd launches jobs as their user) and the two packages. Clients find the cluster through
``SLURM_CONF``; munge is reached through its own socket (``AuthInfo=socket=...``).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path

from tests.runner._cluster import free_port, start, wait_for

BINARIES = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "sinfo", "srun")

CONF = """ClusterName=cellplateau
SlurmctldHost={host}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={d}/munge.sock
SlurmctldPort={ctld_port}
SlurmdPort={d_port}
StateSaveLocation={d}/state
SlurmdSpoolDir={d}/spool
SlurmctldPidFile={d}/slurmctld.pid
SlurmdPidFile={d}/slurmd.pid
SlurmctldLogFile={d}/slurmctld.log
SlurmdLogFile={d}/slurmd.log
PlugStackConfig={d}/plugstack.conf
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
MpiDefault=none
NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory=1000 State=UNKNOWN
PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP
"""


def missing() -> str | None:
    """Why this machine cannot host the cluster, or None."""
    if os.geteuid() != 0:
        return "the SLURM test cluster needs root (slurmd runs jobs as their owner)"
    absent = [b for b in BINARIES if shutil.which(b) is None]
    if absent:
        return f"not installed: {absent} (apt-get install slurm-wlm munge)"
    return None


def start_cluster(folder: Path, log) -> tuple[list[subprocess.Popen], dict[str, str]]:
    """Start munged, slurmctld and slurmd; return the processes and the client environment."""
    d = folder
    (d / "state").mkdir(parents=True)
    (d / "spool").mkdir()
    (d / "plugstack.conf").touch()
    (d / "munge.key").write_bytes(os.urandom(1024))
    os.chmod(d / "munge.key", 0o600)
    host = socket.gethostname().split(".")[0]
    (d / "slurm.conf").write_text(CONF.format(host=host, d=d, ctld_port=free_port(), d_port=free_port(),
                                              cpus=os.cpu_count() or 1))
    env = {"SLURM_CONF": str(d / "slurm.conf")}
    procs = [start(["munged", "--foreground", "--force", "-S", str(d / "munge.sock"), "--key-file",
                    str(d / "munge.key"), "--pid-file", str(d / "munged.pid"), "--log-file", str(d / "munged.log"),
                    "--seed-file", str(d / "munge.seed")], log=log)]
    wait_for(lambda: (d / "munge.sock").exists(), timeout=30, what="munged")
    procs.append(start(["slurmctld", "-D", "-i", "-f", str(d / "slurm.conf")], log=log, env=env))
    procs.append(start(["slurmd", "-D", "-f", str(d / "slurm.conf")], log=log, env=env))

    def idle() -> bool:
        out = subprocess.run(["sinfo", "--noheader", "--format=%t"], capture_output=True, text=True,
                             env={**os.environ, **env})
        return out.returncode == 0 and out.stdout.strip() == "idle"

    wait_for(idle, timeout=60, what="an idle SLURM node (see slurmctld.log / slurmd.log)")
    return procs, env
