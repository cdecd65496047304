"""A multi-node Ray cluster on this machine, for the tests: a head and worker nodes, each started with its own
``ray start --block`` (own ports, own temp dir, own custom resource), and a whole node killed at once.

Each ``ray start --block`` is started in a new session, so that a node is exactly the process tree below it
(its raylet, agents and every worker process the raylet forked); :meth:`Node.kill` freezes that tree
(SIGSTOP, so nothing forks or exits meanwhile), then SIGKILLs all of it, as when a machine is lost.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.jobcheck import descendants

WORKER_PORTS = 48  # ports reserved per node for its worker processes

# a driver that waits until nodes with the given custom resources are alive and prints their ids by name
_PROBE = """
import json, sys, time, ray
ray.init(address=%r, logging_level="ERROR", log_to_driver=False)
names, deadline = %r, time.monotonic() + %r
while True:
    alive = {r: n["NodeID"] for n in ray.nodes() if n["Alive"] for r in n["Resources"] if r in names}
    if len(alive) == len(names):
        print(json.dumps(alive))
        break
    if time.monotonic() > deadline:
        sys.exit(f"alive: {sorted(alive)}")
    time.sleep(0.5)
"""


def free_ports(count: int) -> list[int]:
    """``count`` distinct ports free on 127.0.0.1 right now."""
    sockets, ports = [], []
    try:
        for _ in range(count):
            probe = socket.socket()
            probe.bind(("127.0.0.1", 0))
            sockets.append(probe)
            ports.append(probe.getsockname()[1])
    finally:
        for probe in sockets:
            probe.close()
    return ports


@dataclass
class Node:
    """One ``ray start --block`` process and everything below it."""

    name: str
    process: subprocess.Popen
    temp_dir: Path
    log: Path
    killed: list[int] = field(default_factory=list)

    def pids(self) -> set[int]:
        return {self.process.pid, *descendants(self.process.pid)}

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> list[int]:
        """SIGKILL the whole node (raylet, agents, workers) at once; the ids of the processes killed."""
        frozen: set[int] = set()
        for _ in range(5):  # freeze the tree until no new process shows up below it
            new = self.pids() - frozen
            if not new:
                break
            for pid in new:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGSTOP)
            frozen |= new
        for pid in frozen:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process.wait(30)
        self.killed = sorted(frozen)
        return self.killed

    def stop(self) -> None:
        """End a node still running: SIGTERM (``ray start --block`` then stops its processes), then SIGKILL
        whatever of its tree is left."""
        pids = self.pids() if self.alive() else set()
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(20)
        for pid in pids | (self.pids() if self.alive() else set()):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(10)


class LocalCluster:
    """A head node (``head_cpus`` CPUs) and worker nodes added with :meth:`add_node`, all on 127.0.0.1.

    ``env`` is the environment of every node (hence of its workers: e.g. PYTHONPATH, the models folder).
    Use as a context manager: every node is stopped and its temp dir removed on exit.
    """

    def __init__(self, env: dict[str, str], head_cpus: int = 0, object_store_bytes: int = 200 * 2**20) -> None:
        # its own token (Ray >= 2.59 starts a head with token authentication): every node and driver gets it
        # Ray's own timings for noticing a lost node (tens of seconds): what a real cluster lives with
        self.env = {**env, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
        for name in ("RAY_ADDRESS", "RAY_AUTH_TOKEN_PATH"):
            self.env.pop(name, None)
        self.object_store_bytes = object_store_bytes
        self.root = Path(tempfile.mkdtemp(prefix="rn-"))  # short: Ray's socket paths must stay < 108 bytes
        self.nodes: dict[str, Node] = {}
        port, client = free_ports(2)
        self.address = f"127.0.0.1:{port}"
        self._start("head", ["--head", f"--port={port}", f"--ray-client-server-port={client}",
                             "--include-dashboard=false", f"--num-cpus={head_cpus}"])

    def __enter__(self) -> LocalCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    def add_node(self, name: str, cpus: int = 1) -> Node:
        """A worker node with ``cpus`` CPUs and one unit of the custom resource ``name``."""
        return self._start(name, [f"--address={self.address}", f"--num-cpus={cpus}",
                                  f'--resources={{"{name}": 1}}'])

    def _start(self, name: str, role: list[str]) -> Node:
        temp_dir = self.root / name
        temp_dir.mkdir()
        manager, objects, listen, grpc, runtime_env, metrics, *workers = free_ports(6 + WORKER_PORTS)
        command = [sys.executable, "-m", "ray.scripts.scripts", "start", "--block", *role,
                   "--node-ip-address=127.0.0.1", f"--temp-dir={temp_dir}",
                   f"--object-store-memory={self.object_store_bytes}",
                   f"--node-manager-port={manager}", f"--object-manager-port={objects}",
                   f"--dashboard-agent-listen-port={listen}", f"--dashboard-agent-grpc-port={grpc}",
                   f"--runtime-env-agent-port={runtime_env}", f"--metrics-export-port={metrics}",
                   f"--worker-port-list={','.join(map(str, workers))}", "--disable-usage-stats"]
        log = self.root / f"{name}.log"
        with log.open("w") as handle:
            process = subprocess.Popen(command, env=self.env, stdout=handle, stderr=subprocess.STDOUT,
                                       start_new_session=True)
        node = Node(name, process, temp_dir, log)
        self.nodes[name] = node
        return node

    def wait_for_nodes(self, names: list[str], timeout: float = 180.0) -> dict[str, str]:
        """Wait until the nodes ``names`` (and the head) are alive in the cluster; their node ids by name."""
        probe = _PROBE % (self.address, sorted(names), timeout)
        done = subprocess.run([sys.executable, "-c", probe], env=self.env, capture_output=True, text=True,
                              timeout=timeout + 60, check=False)
        if done.returncode != 0:
            logs = "\n".join(f"{n.name}: {n.log.read_text()[-1500:]}" for n in self.nodes.values())
            raise RuntimeError(f"ray nodes {names} not up: {done.stderr[-2000:]}\n{logs}")
        return json.loads(done.stdout.strip().splitlines()[-1])

    def shutdown(self) -> None:
        for node in reversed(list(self.nodes.values())):
            node.stop()
        shutil.rmtree(self.root, ignore_errors=True)
