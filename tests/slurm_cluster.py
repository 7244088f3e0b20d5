"""A single-node Slurm cluster of its own, started for a test and stopped after it.

Debian's ``slurmctld``, ``slurmd``, ``slurm-client`` and ``munge`` packages, run as root without
systemd: ``munged`` as the ``munge`` user on a socket of its own, then ``slurmctld`` and
``slurmd`` in the foreground, all of them child processes of the test with every file (key,
sockets, state, spool, logs) under one temporary folder and on ports nobody else holds, so
nothing of another Slurm or munge on the machine is touched. ``select/cons_tres`` with
``CR_Core`` gives each job its own cores and ``task/affinity`` pins it to them (with
``task/none`` the tasks are not pinned); without accounting ``sacct`` has nothing, so jobs are
followed with ``scontrol show job``.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "scontrol", "scancel", "sinfo", "squeue")
START_TIMEOUT_S = 60.0
ENDED = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY"}
ENDED |= {"BOOT_FAIL", "DEADLINE", "PREEMPTED"}


class SlurmUnavailable(Exception):
    """Why a Slurm cluster cannot be started here (the test skips with this reason)."""


def unavailable_reason() -> str | None:
    """Why this machine cannot start a Slurm cluster, or ``None`` where it can."""
    if os.geteuid() != 0:
        return "starting slurmctld, slurmd and munged needs root"
    missing = [name for name in DAEMONS + CLIENTS if _which(name) is None]
    if missing:
        return (
            f"{', '.join(missing)} not found (apt-get install --no-install-recommends "
            "slurmctld slurmd slurm-client munge)"
        )
    try:
        pwd.getpwnam("munge")
    except KeyError:
        return "no munge user (the munge package creates it)"
    return None


def _which(name: str) -> str | None:
    return shutil.which(name, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Cluster:
    """A running cluster: its folder, the environment its clients need, its daemons."""

    root: Path
    env: dict[str, str]
    daemons: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def command(
        self, *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run a command (a Slurm client, a submit script) against this cluster."""
        return subprocess.run(
            list(args),
            env={**self.env, **(env or {})},
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=60,
        )

    def job_states(self, job_id: str) -> dict[str, str]:
        """``JobId -> JobState`` of a job (every task of an array), from ``scontrol``."""
        result = self.command("scontrol", "-o", "show", "job", job_id)
        if result.returncode != 0:
            return {}
        return dict(
            re.findall(r"\bJobId=(\d+) .*?\bJobState=(\S+)", line)[0]
            for line in result.stdout.splitlines()
            if "JobState=" in line
        )

    def wait(self, job_ids: Sequence[str], timeout_s: float, logs: Sequence[Path]) -> None:
        """Wait until every job of ``job_ids`` has ended; on time out, fail with the logs."""
        deadline = time.monotonic() + timeout_s
        states: dict[str, str] = {}
        while time.monotonic() < deadline:
            states = {k: v for job in job_ids for k, v in self.job_states(job).items()}
            if states and all(state in ENDED for state in states.values()):
                return
            time.sleep(0.5)
        raise AssertionError(
            f"jobs not ended after {timeout_s:.0f} s: {states}\n" + self.diagnostics(logs)
        )

    def diagnostics(self, logs: Sequence[Path] = ()) -> str:
        """The jobs' queue, the given job logs and the daemons' logs, for a failure message."""
        parts = [self.command("scontrol", "-o", "show", "job").stdout]
        for path in [*logs, *sorted(self.root.glob("*.log"))]:
            text = path.read_text(errors="replace") if path.is_file() else "(absent)"
            parts.append(f"--- {path}\n{text[-3000:]}")
        return "\n".join(parts)

    def stop(self) -> None:
        """Cancel what is left of the jobs, then stop the daemons this cluster started."""
        if len(self.daemons) == len(DAEMONS) and self.daemons[-1].poll() is None:
            self.command("scancel", "--full", "--user", pwd.getpwuid(os.geteuid()).pw_name)
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and self.command("squeue", "-h").stdout.strip():
                time.sleep(0.5)
        for daemon in reversed(self.daemons):
            if daemon.poll() is None:
                daemon.send_signal(signal.SIGTERM)
        for daemon in reversed(self.daemons):
            try:
                daemon.wait(timeout=15)
            except subprocess.TimeoutExpired:
                daemon.kill()
                daemon.wait()


def _slurm_conf(root: Path, node_line: str, socket_path: Path) -> str:
    host = re.search(r"NodeName=(\S+)", node_line)
    cpus = re.search(r"\bCPUs=(\d+)", node_line)
    if host is None or cpus is None:
        raise SlurmUnavailable(f"slurmd -C gave no node line: {node_line!r}")
    # the node's memory as slurmd counts it can be less than it reports; ask for little
    node = re.sub(r"RealMemory=\d+", "RealMemory=1000", node_line.splitlines()[0])
    return f"""\
ClusterName=benchtest
SlurmctldHost={host[1]}(127.0.0.1)
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={socket_path}
SlurmUser=root
SlurmdUser=root
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/slurmctld.log
SlurmdLogFile={root}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/affinity
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
SchedulerType=sched/builtin
SchedulerParameters=sched_interval=1
MinJobAge=600
{node} NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=cpu Nodes={host[1]} Default=YES MaxTime=INFINITE State=UP
"""


def _start_munge(root: Path) -> tuple[list[str], Path]:
    """The ``munged`` command line, with a fresh key, all in a folder the munge user owns."""
    munge = pwd.getpwnam("munge")
    folder = root / "munge"
    folder.mkdir()
    folder.chmod(0o711)  # munged: others must reach the socket, not list the folder
    key = folder / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o400)
    for path in (folder, key):
        os.chown(path, munge.pw_uid, munge.pw_gid)
    socket_path = folder / "munge.socket"
    command = [
        _which("munged") or "munged",
        "--foreground",
        f"--socket={socket_path}",
        f"--key-file={key}",
        f"--pid-file={folder / 'munged.pid'}",
        f"--log-file={folder / 'munged.log'}",
        f"--seed-file={folder / 'munged.seed'}",
    ]
    return command, socket_path


def _wait_for(what: str, ready: Callable[[], bool], cluster: Cluster) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        for daemon in cluster.daemons:
            if daemon.poll() is not None:
                raise AssertionError(
                    f"{daemon.args[0]} exited with {daemon.returncode} while waiting for "
                    f"{what}\n" + cluster.diagnostics(sorted(cluster.root.glob("munge/*.log")))
                )
        if ready():
            return
        time.sleep(0.2)
    raise AssertionError(f"{what} not ready after {START_TIMEOUT_S:.0f} s\n{cluster.diagnostics()}")


@contextmanager
def slurm_cluster() -> Iterator[Cluster]:
    """Start a single-node cluster (raising ``SlurmUnavailable`` where it cannot be) and stop
    it, and only it, afterwards."""
    reason = unavailable_reason()
    if reason is not None:
        raise SlurmUnavailable(reason)
    # the munge user must reach its folder: not under pytest's root-only tmp folders
    root = Path(tempfile.mkdtemp(prefix="bench-slurm-"))
    root.chmod(0o755)
    (root / "state").mkdir()
    (root / "spool").mkdir()
    node_line = subprocess.run(
        [_which("slurmd") or "slurmd", "-C"], capture_output=True, text=True, check=True
    ).stdout
    munged, socket_path = _start_munge(root)
    conf = root / "slurm.conf"
    conf.write_text(_slurm_conf(root, node_line, socket_path))
    env = {**os.environ, "SLURM_CONF": str(conf)}
    env["PATH"] = env.get("PATH", "") + ":/usr/sbin:/sbin"
    cluster = Cluster(root, env)
    munge = pwd.getpwnam("munge")
    log = (root / "daemons.log").open("ab")
    try:
        cluster.daemons.append(
            subprocess.Popen(
                munged,
                user=munge.pw_uid,
                group=munge.pw_gid,
                extra_groups=[],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
        _wait_for("munged's socket", socket_path.exists, cluster)
        for daemon in ("slurmctld", "slurmd"):
            command = [_which(daemon) or daemon, "-D", "-f", str(conf)]
            cluster.daemons.append(
                subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
            )
        _wait_for(
            "the node",
            lambda: cluster.command("sinfo", "-h", "-o", "%t").stdout.strip() == "idle",
            cluster,
        )
        yield cluster
    finally:
        cluster.stop()
        log.close()
        shutil.rmtree(root, ignore_errors=True)
