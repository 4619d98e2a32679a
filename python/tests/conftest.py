"""Fixtures: a real kvstashd on loopback, started per test and stopped by its PID.

The binary comes from $KVSTASH_BIN_DIR (default: build-test/tools of this checkout, what
scripts/test builds).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN_DIR = Path(os.environ.get("KVSTASH_BIN_DIR", REPO / "build-test" / "tools"))


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
