"""Fixtures: a real kvstashd on loopback, started per test and stopped by its PID; and a real
cluster (one etcd, three kvstashd registered in it) killed by PID at teardown.

The binary comes from $KVSTASH_BIN_DIR (default: build-test/tools of this checkout, what
scripts/test builds); the cluster's from $KVSTASH_KVSTASHD when set. etcd is /usr/bin/etcd
(Debian etcd-server, scripts/install-deps).
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from kvstash_client import Store

REPO = Path(__file__).resolve().parents[2]
BIN_DIR = Path(os.environ.get("KVSTASH_BIN_DIR", REPO / "build-test" / "tools"))
ETCD = Path("/usr/bin/etcd")
CLUSTER_KVSTASHD = Path(os.environ.get("KVSTASH_KVSTASHD", BIN_DIR / "kvstashd"))
CLUSTER_NAME = "pytest"
CLUSTER_TTL_S = 1  # the nodes' lease TTL: a killed node leaves etcd's list after about this
START_LIMIT_S = 20.0  # etcd answering, a node listening, the cluster registered


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Kvstashd:
    """A kvstashd process of this test: its address, metrics URL and log."""

    workdir: Path
    dram: str = "256MiB"
    flash_size: str = "256MiB"
    extra: list[str] = field(default_factory=list)
    port: int = 0
    metrics_port: int = 0
    proc: subprocess.Popen | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    @property
    def log(self) -> Path:
        return self.workdir / "kvstashd.log"

    def start(self) -> None:
        """Starts it on fresh ports and waits until it accepts connections."""
        binary = BIN_DIR / "kvstashd"
        if not binary.exists():
            raise RuntimeError(f"{binary} not found: build it (scripts/test) or set KVSTASH_BIN_DIR")
        self.port, self.metrics_port = free_port(), free_port()
        cmd = [
            str(binary),
            "--listen", self.address,
            "--dram", self.dram,
            "--flash", str(self.workdir / "kvstash.flash"),
            "--flash-size", self.flash_size,
            "--metrics-listen", f"127.0.0.1:{self.metrics_port}",
            "--workers", "1",
            *self.extra,
        ]
        self.proc = subprocess.Popen(cmd, stdout=self.log.open("ab"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"kvstashd exited {self.proc.returncode}: {self.log.read_text()}")
            try:
                urllib.request.urlopen(self.metrics_url, timeout=1).read()
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"kvstashd did not come up: {self.log.read_text()}")

    def metric(self, name: str) -> float:
        """The value of one Prometheus sample (summed over its label sets)."""
        text = urllib.request.urlopen(self.metrics_url, timeout=5).read().decode()
        total, seen = 0.0, False
        for line in text.splitlines():
            if line.startswith(name) and line[len(name)] in " {":
                total += float(line.rsplit(" ", 1)[1])
                seen = True
        if not seen:
            raise KeyError(name)
        return total

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stops it by its PID (SIGKILL after 10 s)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        os.kill(self.proc.pid, sig)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


@pytest.fixture
def kvstashd(tmp_path: Path) -> Iterator[Kvstashd]:
    """A running kvstashd (256 MiB DRAM, 256 MiB flash file), stopped after the test."""
    server = Kvstashd(workdir=tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


# ---- A cluster: etcd and three kvstashd registered in it ------------------------------

_PR_SET_PDEATHSIG = 1
# Resolved here, not in the forked child: a child of a threaded process must not dlopen.
_prctl = ctypes.CDLL(None, use_errno=True).prctl


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL when pytest goes, so that even an aborted run
    (the watchdog) leaves no etcd or kvstashd behind."""
    _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _kill(proc: subprocess.Popen | None) -> None:
    """SIGKILL by PID and reap."""
    if proc is not None and proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def wait_until(what: str, check: Callable[[], bool], limit_s: float = START_LIMIT_S) -> None:
    """Polls check() every 50 ms; fails the test naming `what` after limit_s."""
    deadline = time.monotonic() + limit_s
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen within {limit_s} s")
        time.sleep(0.05)


@dataclass
class Etcd:
    """One etcd member on free loopback ports with its own data dir."""

    workdir: Path
    port: int = 0
    peer_port: int = 0
    proc: subprocess.Popen | None = None

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _answers(self) -> bool:
        """True when the JSON gateway serves a range read (etcd has a leader)."""
        request = urllib.request.Request(
            f"http://{self.endpoint}/v3/kv/range",
            data=b'{"key":"AA=="}',
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=1) as reply:
                return reply.status == 200
        except OSError:
            return False

    def start(self) -> None:
        if not ETCD.exists():
            raise RuntimeError(f"{ETCD} not found: install etcd-server (scripts/install-deps)")
        self.port, self.peer_port = free_port(), free_port()
        client, peer = f"http://{self.endpoint}", f"http://127.0.0.1:{self.peer_port}"
        cmd = [
            str(ETCD),
            "--name=pytest",
            f"--data-dir={self.workdir / 'etcd-data'}",
            f"--listen-client-urls={client}",
            f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=pytest={peer}",
        ]
        log = (self.workdir / "etcd.log").open("ab")
        self.proc = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent
        )
        wait_until("etcd answering", lambda: self._answers() or self.proc.poll() is not None)
        if self.proc.poll() is not None:
            raise RuntimeError(f"etcd exited: {(self.workdir / 'etcd.log').read_text()[-2000:]}")

    def stop(self) -> None:
        _kill(self.proc)


@dataclass
class ClusterNode:
    """One kvstashd that registers itself in etcd as `name`."""

    name: str
    workdir: Path
    etcd: str
    extra: list[str] = field(default_factory=list)
    port: int = 0
    proc: subprocess.Popen | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.workdir / f"{self.name}.log"

    def start(self) -> None:
        if not CLUSTER_KVSTASHD.exists():
            raise RuntimeError(
                f"{CLUSTER_KVSTASHD} not found: build it (scripts/test) or set KVSTASH_KVSTASHD"
            )
        self.port = free_port()
        cmd = [
            str(CLUSTER_KVSTASHD),
            "--etcd", self.etcd,
            "--cluster", CLUSTER_NAME,
            "--node-name", self.name,
            "--node-weight", "1",
            "--cluster-ttl", str(CLUSTER_TTL_S),
            "--listen", self.address,
            "--metrics-listen", "",
            "--flash", "",
            "--dram", "256MiB",
            "--region-size", "8MiB",
            "--workers", "1",
            *self.extra,
        ]  # fmt: skip
        self.proc = subprocess.Popen(
            cmd, stdout=self.log.open("ab"), stderr=subprocess.STDOUT, preexec_fn=_die_with_parent
        )
        wait_until(
            f"{self.name} listening", lambda: self._listens() or self.proc.poll() is not None
        )
        if self.proc.poll() is not None:
            raise RuntimeError(f"{self.name} exited {self.proc.returncode}: {self.log.read_text()}")

    def _listens(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False

    def kill(self) -> None:
        _kill(self.proc)


@dataclass
class KvstashCluster:
    """etcd and three nodes n0..n2, all registered (nodes() of an etcd Store lists them)."""

    etcd: Etcd
    nodes: list[ClusterNode]

    @property
    def etcd_address(self) -> str:
        return f"etcd://{self.etcd.endpoint}/{CLUSTER_NAME}"

    @property
    def static_address(self) -> str:
        return "nodes://" + ",".join(f"{n.name}={n.address}" for n in self.nodes)

    def address(self, kind: str) -> str:
        return self.etcd_address if kind == "etcd" else self.static_address

    def stop(self) -> None:
        for node in self.nodes:
            node.kill()
        self.etcd.stop()


def node_names(store: Store) -> set[str]:
    return {n["name"] for n in store.nodes()}


def up_node_names(store: Store) -> set[str]:
    return {n["name"] for n in store.nodes() if n["state"] == "up"}


def start_cluster(workdir: Path) -> KvstashCluster:
    etcd = Etcd(workdir)
    cluster = KvstashCluster(etcd, [])
    try:
        etcd.start()
        for i in range(3):
            cluster.nodes.append(ClusterNode(f"n{i}", workdir, etcd.endpoint))
            cluster.nodes[-1].start()
        with Store(cluster.etcd_address, timeout_ms=1000) as store:
            wait_until("3 nodes registered", lambda: up_node_names(store) == {"n0", "n1", "n2"})
    except BaseException:
        cluster.stop()
        raise
    return cluster


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KvstashCluster]:
    """A cluster shared by the tests that kill nothing (each uses its own keys)."""
    c = start_cluster(tmp_path_factory.mktemp("cluster"))
    try:
        yield c
    finally:
        c.stop()


@pytest.fixture
def lone_cluster(tmp_path: Path) -> Iterator[KvstashCluster]:
    """A cluster of this test alone, for one that kills a node."""
    c = start_cluster(tmp_path)
    try:
        yield c
    finally:
        c.stop()
