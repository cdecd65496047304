"""A fresh local cluster started the way docs/batch-jobs.md says, ``ray start --head``, on free ports and in its own
temporary folder; stopped by killing exactly its processes (``ray stop`` would stop every Ray cluster of
this user on the machine)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

PORT_OPTIONS = ("--port", "--dashboard-port", "--ray-client-server-port", "--node-manager-port",
                "--object-manager-port", "--dashboard-agent-listen-port", "--dashboard-agent-grpc-port",
                "--metrics-export-port", "--runtime-env-agent-port")


@dataclass(frozen=True)
class Head:
    dashboard_port: int
    temp_dir: Path


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for probe in sockets:
            probe.bind(("127.0.0.1", 0))
        return [probe.getsockname()[1] for probe in sockets]
    finally:
        for probe in sockets:
            probe.close()


def _processes() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, command line) of every process we can see."""
    found = {}
    for name in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{name}/cmdline", "rb") as handle:
                command = handle.read().replace(b"\0", b" ").decode(errors="replace")
            with open(f"/proc/{name}/stat") as handle:
                parent = int(handle.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        found[int(name)] = (parent, command)
    return found


def stop(temp_dir: Path) -> None:
    """Kill the processes whose command line names ``temp_dir``, and their children."""
    table = _processes()
    mine = {pid for pid, (_, command) in table.items() if str(temp_dir) in command} - {os.getpid()}
    while more := {pid for pid, (parent, _) in table.items() if parent in mine} - mine:
        mine |= more
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in mine:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and any(os.path.exists(f"/proc/{pid}") for pid in mine):
            time.sleep(0.5)


@contextmanager
def ray_head(env: Mapping[str, str], temp_dir: Path, num_cpus: int = 2) -> Iterator[Head]:
    """``ray start --head`` with ``env``; ``temp_dir`` short (Ray's socket paths live under it)."""
    ports = dict(zip(PORT_OPTIONS, free_ports(len(PORT_OPTIONS))))
    command = ["ray", "start", "--head", "--num-cpus", str(num_cpus), "--dashboard-host", "127.0.0.1",
               "--include-dashboard", "true", "--temp-dir", str(temp_dir), "--disable-usage-stats"]
    for option, port in ports.items():
        command += [option, str(port)]
    try:
        started = subprocess.run(command, env=dict(env), capture_output=True, text=True, timeout=180, check=False)
        assert started.returncode == 0, (started.stdout + started.stderr)[-3000:]
        yield Head(ports["--dashboard-port"], temp_dir)
    finally:
        stop(temp_dir)
        shutil.rmtree(temp_dir, ignore_errors=True)
