"""SGLang HiCache storage backend on kvstash (the L3 tier under SGLang's host-memory cache).

Loaded by SGLang's dynamic backend loader::

    --enable-hierarchical-cache --hicache-storage-backend dynamic
    --hicache-storage-backend-extra-config '{"backend_name": "kvstash",
        "module_path": "kvstash_client.sglang", "class_name": "KvstashHiCacheStorage",
        "interface_v1": 1, "server": "127.0.0.1:7400"}'

`interface_v1: 1` makes SGLang use the zero-copy calls: pages move straight between the
host KV pool (registered once with the Store) and kvstashd, with no staging copy.

Keys. SGLang names a page by a chained prefix hash. kvstash keys carry, besides that hash, a
fingerprint of everything that decides the bytes of a page: model name, tensor-parallel size
and rank (MHA only: an MLA page is the same on every rank, so all ranks share one object),
pipeline/context-parallel shard, page size, dtype, host-pool layout and per-token geometry.
Two deployments that differ in any of these miss instead of reading each other's bytes.
A key is `sgl/<fingerprint>/<page hash>/<part>` where the parts of a page are `k` and `v`
(MHA), `kv` (MLA) or `p<i>` (layouts with more buffers per page); keys stay <= 256 bytes
(a longer page hash is itself hashed).

Failure model. No call on the data path raises: an error or a timeout of the Store is a
miss (get, exists) or a failed write (set), counted in stats() and logged at most once per
`log_interval_s`. The Store timeout (`timeout_ms`, default 1000) bounds how long a slow or
dead kvstashd can hold SGLang's prefetch and backup threads. Only start-up raises:
ConnectionError when kvstashd is unreachable, ValueError for a bad configuration.

Thread safety: SGLang calls a backend from its prefetch and backup threads at once. Reads
(exists, get) and writes (set) use two Store connections, so a prefetch never queues behind
a backup on one connection; each Store is safe for concurrent calls; the counters here are
guarded by a lock.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from sglang.srt.mem_cache.hicache_storage import (
    HiCacheStorage,
    HiCacheStorageConfig,
    HiCacheStorageExtraInfo,
)

from kvstash_client import ErrorCode, Store, error_name
from kvstash_client._counters import Counters
from kvstash_client._options import ConnectorOptions
from kvstash_client._ratelimit import RateLimitedLog

logger = logging.getLogger(__name__)

MAX_KEY_BYTES = 256
_KEY_SCHEME = "sgl"
_FINGERPRINT_HEX = 24  # 96 bits of SHA-256: collisions between deployments are negligible


@dataclass(frozen=True)
class KvstashHiCacheConfig(ConnectorOptions):
    """Backend options, read from SGLang's --hicache-storage-backend-extra-config JSON (the
    connection options are ConnectorOptions').

    SGLang's own keys there (backend_name, module_path, class_name, interface_v1, ...) are
    ignored; unknown keys too, so one JSON can serve several versions.
    """

    WHAT: ClassVar[str] = "kvstash HiCache backend"
    WHERE: ClassVar[str] = "--hicache-storage-backend-extra-config"

    @classmethod
    def from_extra_config(cls, extra: dict[str, Any] | None) -> KvstashHiCacheConfig:
        """Builds a validated config from the extra-config dict (None: all defaults)."""
        return cls.parse(extra, strict=False)


@dataclass
class HiCacheCounters(Counters):
    """Cumulative counters of one backend instance (pages are SGLang pages)."""

    exists_calls: int = 0
    exists_pages_queried: int = 0
    exists_pages_hit: int = 0
    get_pages: int = 0
    get_pages_hit: int = 0
    get_pages_missed: int = 0
    set_pages: int = 0
    set_pages_stored: int = 0
    set_pages_already_present: int = 0
    set_pages_failed: int = 0
    bytes_read: int = 0
    bytes_written: int = 0
    errors: int = 0  # Store errors and exceptions (a NOT_FOUND miss is not an error)


def _page_fingerprint(
    storage_config: HiCacheStorageConfig, pool: Any, deployment: str
) -> tuple[str, str]:
    """(short hash, readable description) of what decides the bytes of a stored page."""
    parts = [
        f"model={storage_config.model_name or ''}",
        f"deployment={deployment}",
        f"mla={int(storage_config.is_mla_model)}",
        f"pp={storage_config.pp_rank}/{storage_config.pp_size}",
        f"cp={storage_config.attn_cp_rank}/{storage_config.attn_cp_size}",
        f"dcp={storage_config.dcp_rank}/{storage_config.dcp_size}",
        f"page={pool.page_size}",
        f"dtype={pool.dtype}",
        f"layout={pool.layout}",
        f"bytes_per_token={pool.get_size_per_token()}",
        f"layers={getattr(pool, 'layer_num', '')}",
        f"format={getattr(pool, 'storage_format_tag', None) or ''}",
    ]
    if not storage_config.is_mla_model:
        parts.insert(3, f"tp={storage_config.tp_rank}/{storage_config.tp_size}")
    text = ";".join(parts)
    digest = hashlib.sha256(text.encode()).hexdigest()[:_FINGERPRINT_HEX]
    return digest, text


def _part_names(num_parts: int, is_mla: bool) -> list[str]:
    """Names of the objects one page is stored as."""
    if is_mla and num_parts == 1:
        return ["kv"]
    if not is_mla and num_parts == 2:
        return ["k", "v"]
    return [f"p{i}" for i in range(num_parts)]


def _pool_buffers(pool: Any) -> Iterator[torch.Tensor]:
    """The host tensors behind a pool's page pointers (kv_buffer, one or several)."""
    buffer = getattr(pool, "kv_buffer", None)
    if isinstance(buffer, torch.Tensor):
        yield buffer
    elif isinstance(buffer, (list, tuple)):
        yield from (b for b in buffer if isinstance(b, torch.Tensor))


class KvstashHiCacheStorage(HiCacheStorage):
    """HiCacheStorage on a kvstashd node: zero-copy v1 interface plus the legacy calls.

    Lifecycle: constructed by SGLang's backend factory (connects; raises if kvstashd is
    unreachable), then register_mem_pool_host() registers the host pool's memory and fixes
    the key fingerprint; the data path is usable from then on. close() drops the connection.
    """

    def __init__(self, storage_config: HiCacheStorageConfig, _unused: Any = None) -> None:
        """storage_config: SGLang's; its extra_config holds KvstashHiCacheConfig's options.
        The second argument (SGLang passes kwargs or the host pool) is not needed: the
        pool arrives through register_mem_pool_host().

        Raises ConnectionError (kvstashd unreachable) or ValueError (bad options)."""
        self.storage_config = storage_config
        self.config = KvstashHiCacheConfig.from_extra_config(storage_config.extra_config)
        self.mem_pool_host: Any = None
        self._key_prefix: str | None = None
        self._part_names: list[str] = []
        self._bytes_per_page = 0
        self._counters = HiCacheCounters()
        self._lock = threading.Lock()
        self._warn = RateLimitedLog(logger, self.config.log_interval_s)
        self._metrics_enabled = bool(storage_config.enable_storage_metrics)
        self._prefetch_pgs: list[int] = []
        self._backup_pgs: list[int] = []
        self._prefetch_bw: list[float] = []
        self._backup_bw: list[float] = []
        # Two connections: the Store serializes calls on one, and SGLang's prefetch (reads)
        # must not queue behind its backups (writes).
        self.store = self._connect()
        self.write_store = self._connect()

    def _connect(self) -> Store:
        """Opens the Store; re-raises an unreachable server as a ConnectionError that
        names the option to fix."""
        return self.config.connect()

    # ---- set-up ----

    def register_mem_pool_host(self, mem_pool_host: Any) -> None:
        """Registers the host KV pool's memory with kvstash (zero-copy transfers) and
        derives the page fingerprint. Raises RuntimeError when registration fails: a
        backend that cannot move pages should fail SGLang's attach, not miss forever."""
        super().register_mem_pool_host(mem_pool_host)
        for store in (self.store, self.write_store):
            for buffer in _pool_buffers(mem_pool_host):
                rc = store.register_buffer(buffer)
                if rc != ErrorCode.OK:
                    raise RuntimeError(
                        f"kvstash: register_buffer of the host KV pool failed: "
                        f"{error_name(rc)}: {store.last_error()}"
                    )
        digest, text = _page_fingerprint(
            self.storage_config, mem_pool_host, self.config.deployment
        )
        self._key_prefix = f"{_KEY_SCHEME}/{digest}/"
        page_ptrs, sizes = mem_pool_host.get_page_buffer_meta(
            torch.arange(mem_pool_host.page_size, dtype=torch.int64)
        )
        self._part_names = _part_names(len(page_ptrs), self.storage_config.is_mla_model)
        self._bytes_per_page = int(sum(sizes))
        logger.info(
            "kvstash HiCache backend: server %s, key prefix %s (%s), %d object(s) per page",
            self.config.server, self._key_prefix, text, len(self._part_names),
        )

    # ---- keys ----

    def _page_key(self, page_hash: str) -> str:
        """The fingerprinted base key of one page; a page hash too long to fit is hashed."""
        assert self._key_prefix is not None
        base = self._key_prefix + page_hash
        room = MAX_KEY_BYTES - 1 - max(len(p) for p in self._part_names or ["flat"])
        if len(base.encode()) > room:
            base = self._key_prefix + "h" + hashlib.sha256(page_hash.encode()).hexdigest()
        return base

    def _part_keys(self, page_hashes: Sequence[str]) -> list[str]:
        """Every object key of the pages, page-major, parts in get_page_buffer_meta order."""
        return [f"{self._page_key(h)}/{p}" for h in page_hashes for p in self._part_names]

    def object_keys(self, page_hash: str) -> list[str]:
        """The kvstash keys one SGLang page is stored under (for tools and tests)."""
        return self._part_keys([page_hash])

    # ---- accounting ----

    def _count(self, **deltas: int) -> None:
        self._counters.add(**deltas)

    def _error(self, what: str, detail: str) -> None:
        """Counts one failed Store call and logs it (rate-limited)."""
        self._count(errors=1)
        self._warn.warn("kvstash HiCache %s failed: %s", what, detail)

    def _record_transfer(self, prefetch: bool, pages: int, seconds: float) -> None:
        """Feeds SGLang's storage metrics (page counts and GB/s) when they are enabled."""
        if not self._metrics_enabled or pages == 0:
            return
        gbps = pages * self._bytes_per_page / max(seconds, 1e-9) / 1e9
        with self._lock:
            if prefetch:
                self._prefetch_pgs.append(pages)
                self._prefetch_bw.append(gbps)
            else:
                self._backup_pgs.append(pages)
                self._backup_bw.append(gbps)

    def _ready(self, what: str) -> bool:
        if self._key_prefix is None:
            self._error(what, "no host memory pool registered yet")
            return False
        return True

    # ---- zero-copy v1 interface ----

    def batch_exists(
        self, keys: list[str], extra_info: HiCacheStorageExtraInfo | None = None
    ) -> int:
        """Number of leading pages of keys whose every object is stored (0 on error)."""
        self._count(exists_calls=1, exists_pages_queried=len(keys))
        if not keys or not self._ready("exists"):
            return 0
        try:
            present = self.store.longest_prefix(self._part_keys(keys))
        except Exception as exc:  # noqa: BLE001 - nothing raises on the data path
            self._error("exists", repr(exc))
            return 0
        if present < 0:
            self._error("exists", f"{error_name(present)}: {self.store.last_error()}")
            return 0
        pages = present // len(self._part_names)
        self._count(exists_pages_hit=pages)
        return pages

    def _buffer_meta(
        self, keys: list[str], host_indices: torch.Tensor
    ) -> tuple[list[str], list[int], list[int]]:
        """(object keys, host addresses, sizes) of the pages at host_indices."""
        ptrs, sizes = self.mem_pool_host.get_page_buffer_meta(host_indices)
        object_keys = self._part_keys(keys)
        if len(ptrs) != len(object_keys):
            raise ValueError(
                f"host pool gave {len(ptrs)} buffers for {len(keys)} pages; expected "
                f"{len(object_keys)}"
            )
        return object_keys, [int(p) for p in ptrs], [int(s) for s in sizes]

    def batch_get_v1(
        self,
        keys: list[str],
        host_indices: torch.Tensor,
        extra_info: HiCacheStorageExtraInfo | None = None,
    ) -> list[bool]:
        """Reads pages straight into the host pool at host_indices; per page, whether every
        byte of it arrived. A page with any object missing or short is a miss."""
        if not keys:
            return []
        if not self._ready("get"):
            return [False] * len(keys)
        start = time.perf_counter()
        try:
            object_keys, ptrs, sizes = self._buffer_meta(keys, host_indices)
            results = self.store.batch_get_into(object_keys, ptrs, sizes)
        except Exception as exc:  # noqa: BLE001
            self._error("get", repr(exc))
            self._count(get_pages=len(keys), get_pages_missed=len(keys))
            return [False] * len(keys)
        ok = self._pages_read(results, sizes)
        hits = sum(ok)
        self._count(get_pages=len(keys), get_pages_hit=hits, get_pages_missed=len(keys) - hits)
        self._record_transfer(True, hits, time.perf_counter() - start)
        return ok

    def _pages_read(self, results: Sequence[int], sizes: Sequence[int]) -> list[bool]:
        """Per page: all its objects read in full. Counts bytes and non-miss errors."""
        n = len(self._part_names)
        ok: list[bool] = []
        bytes_read = 0
        for page in range(len(results) // n):
            span = range(page * n, page * n + n)
            ok.append(all(results[i] == sizes[i] for i in span))
            bytes_read += sum(max(results[i], 0) for i in span)
        failures = [r for r in results if r < 0 and r != ErrorCode.NOT_FOUND]
        if failures:
            self._error("get", f"{len(failures)} object(s): {error_name(failures[0])}: "
                        f"{self.store.last_error()}")
        self._count(bytes_read=bytes_read)
        return ok

    def batch_set_v1(
        self,
        keys: list[str],
        host_indices: torch.Tensor,
        extra_info: HiCacheStorageExtraInfo | None = None,
    ) -> list[bool]:
        """Writes pages straight from the host pool; per page, whether it is now stored
        (already present counts: pages are write-once and equal bytes by construction)."""
        if not keys:
            return []
        if not self._ready("set"):
            return [False] * len(keys)
        start = time.perf_counter()
        try:
            object_keys, ptrs, sizes = self._buffer_meta(keys, host_indices)
            results = self.write_store.batch_put_from(object_keys, ptrs, sizes)
        except Exception as exc:  # noqa: BLE001
            self._error("set", repr(exc))
            self._count(set_pages=len(keys), set_pages_failed=len(keys))
            return [False] * len(keys)
        ok = self._pages_written(results, sizes)
        self._record_transfer(False, sum(ok), time.perf_counter() - start)
        return ok

    def _pages_written(self, results: Sequence[int], sizes: Sequence[int]) -> list[bool]:
        """Per page: every object stored or already present. Counts pages and bytes."""
        n = len(self._part_names)
        stored_codes = (ErrorCode.OK, ErrorCode.ALREADY_EXISTS)
        ok: list[bool] = []
        for page in range(len(results) // n):
            span = range(page * n, page * n + n)
            page_ok = all(results[i] in stored_codes for i in span)
            fresh = all(results[i] == ErrorCode.OK for i in span)
            ok.append(page_ok)
            self._count(
                set_pages=1,
                set_pages_stored=int(page_ok and fresh),
                set_pages_already_present=int(page_ok and not fresh),
                set_pages_failed=int(not page_ok),
                bytes_written=sum(sizes[i] for i in span if results[i] == ErrorCode.OK),
            )
        failures = [r for r in results if r not in stored_codes]
        if failures:
            self._error("set", f"{len(failures)} object(s): {error_name(failures[0])}: "
                        f"{self.write_store.last_error()}")
        return ok

    # ---- legacy (copying) interface: one flat page tensor per key ----

    def _flat_key(self, key: str) -> str:
        return f"{self._page_key(key)}/flat"

    def get(
        self, key: str, target_location: Any = None, target_sizes: Any = None
    ) -> torch.Tensor | None:
        """Reads one flat page into target_location (a contiguous tensor); None on a miss."""
        if target_location is None or not self._ready("get"):
            return None
        try:
            size = target_location.numel() * target_location.element_size()
            rc = self.store.get_into(self._flat_key(key), target_location, size)
        except Exception as exc:  # noqa: BLE001
            self._error("get", repr(exc))
            return None
        self._count(get_pages=1, get_pages_hit=int(rc == size), get_pages_missed=int(rc != size))
        if rc == size:
            self._count(bytes_read=size)
            return target_location
        if rc < 0 and rc != ErrorCode.NOT_FOUND:
            self._error("get", f"{error_name(rc)}: {self.store.last_error()}")
        return None

    def batch_get(
        self, keys: list[str], target_locations: Any = None, target_sizes: Any = None
    ) -> list[torch.Tensor | None]:
        """get() for each key; target_locations holds one tensor per key."""
        targets = target_locations or [None] * len(keys)
        return [self.get(k, t) for k, t in zip(keys, targets)]

    def set(
        self, key: str, value: Any = None, target_location: Any = None, target_sizes: Any = None
    ) -> bool:
        """Stores one flat page tensor; True if stored or already present."""
        if value is None or not self._ready("set"):
            return False
        try:
            rc = self.write_store.put(self._flat_key(key), value.contiguous())
        except Exception as exc:  # noqa: BLE001
            self._error("set", repr(exc))
            return False
        ok = rc in (ErrorCode.OK, ErrorCode.ALREADY_EXISTS)
        self._count(set_pages=1, set_pages_stored=int(rc == ErrorCode.OK),
                    set_pages_already_present=int(rc == ErrorCode.ALREADY_EXISTS),
                    set_pages_failed=int(not ok))
        if not ok:
            self._error("set", f"{error_name(rc)}: {self.write_store.last_error()}")
        return ok

    def batch_set(
        self, keys: list[str], values: Any = None, target_locations: Any = None,
        target_sizes: Any = None,
    ) -> bool:
        """set() for each key; True if all were stored."""
        return all([self.set(k, v) for k, v in zip(keys, values or [])])

    def exists(self, key: str) -> bool:
        """Whether the page is stored (zero-copy objects)."""
        return self.batch_exists([key]) == 1

    # ---- metrics and lifecycle ----

    def stats(self) -> dict[str, int]:
        """Cumulative counters: this backend's (`hicache.*`), the server's (`server.*`,
        `store.*`) and both connections' (`client.*`, `python.*` summed over the read and
        the write connection). Server counters are absent when kvstashd does not answer."""
        out = {f"hicache.{k}": v for k, v in self._counters.snapshot().items()}
        for store in (self.store, self.write_store):
            try:
                for name, value in store.stats().items():
                    if name.startswith(("client.", "python.")):
                        out[name] = out.get(name, 0) + value
                    else:
                        out[name] = value
            except Exception as exc:  # noqa: BLE001
                self._warn.warn("kvstash HiCache stats failed: %r", exc)
        return out

    def get_stats(self) -> Any:
        """SGLang's storage-metrics hook: a StorageMetrics of the transfers since the last
        call (page counts and GB/s), or None when metrics are off."""
        if not self._metrics_enabled:
            return None
        from sglang.srt.observability.metrics_collector import StorageMetrics

        metrics = StorageMetrics()
        with self._lock:
            metrics.prefetch_pgs.extend(self._prefetch_pgs)
            metrics.backup_pgs.extend(self._backup_pgs)
            metrics.prefetch_bandwidth.extend(self._prefetch_bw)
            metrics.backup_bandwidth.extend(self._backup_bw)
            for series in (self._prefetch_pgs, self._backup_pgs, self._prefetch_bw,
                           self._backup_bw):
                series.clear()
        return metrics

    def clear(self) -> None:
        """kvstash has no bulk delete: pages age out by eviction. Logged, not an error."""
        logger.info("kvstash HiCache backend: clear() is a no-op (pages are evicted by kvstashd)")

    def close(self) -> None:
        """Closes both Store connections; later calls are misses."""
        for store in (self.store, self.write_store):
            try:
                store.close()
            except Exception as exc:  # noqa: BLE001
                logger.warning("kvstash HiCache close failed: %r", exc)
