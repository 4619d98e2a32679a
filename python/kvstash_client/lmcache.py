"""kvstash connectors for LMCache (docs/INTEGRATIONS.md, "LMCache").

Two entry points, one per LMCache storage path:

* ``KVStashNativeConnector``: LMCache's native connector contract, for the multiprocess
  (MP) mode's ``native_plugin`` L2 adapter::

      {"type": "native_plugin", "module_path": "kvstash_client.lmcache",
       "class_name": "KVStashNativeConnector",
       "adapter_params": {"server": "127.0.0.1:7400", "num_workers": 2}}

  It is ``kvstash_client.AsyncStore`` with one addition: a key longer than kvstash's 256
  bytes (a long model name plus a cache salt) is replaced by a fixed-length digest of itself
  instead of failing, so every ObjectKey LMCache can form is storable.

* ``KVStashRemoteConnector``: a ``RemoteConnector`` for the non-MP engine's remote backend,
  selected by ``remote_storage_plugins: ["kvstash"]`` with
  ``extra_config: {"remote_storage_plugin.kvstash.module_path": "kvstash_client.lmcache",
  "remote_storage_plugin.kvstash.class_name": "KVStashRemoteConnector",
  "kvstash.server": "127.0.0.1:7400"}``. Its options are the ``kvstash.*`` keys of
  ``extra_config`` (see ``RemoteOptions``).

The data path never raises: a failed or timed-out read is a miss, a failed write is
dropped; both are counted (``stats()``, ``set_metrics_hook``) and logged at most once per
``log_interval_s`` per kind. Only construction raises (ConnectionError when kvstashd cannot
be reached), because a cache tier that is misconfigured should fail loudly at start-up.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import ctypes
import hashlib
import logging
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from typing import Any

from kvstash_client import AsyncStore, ErrorCode, Store, error_name
from kvstash_client._ratelimit import RateLimitedLog

logger = logging.getLogger("kvstash_client.lmcache")

MAX_KEY_BYTES = 256  # kvstash's key limit (docs/PROTOCOL.md)
_DIGEST_PREFIX = b"kvstash-digest:"

Key = str | bytes


def fit_key(key: Key) -> Key:
    """Returns key unchanged when it fits kvstash's 1..256 bytes, else a 79-byte stand-in:
    a fixed prefix and the SHA-256 of the full key (collision-free in practice, and the
    prefix cannot be produced by LMCache's own key formats, which start with a model name
    and never contain ':' before the first '@')."""
    raw = key.encode() if isinstance(key, str) else key
    if len(raw) <= MAX_KEY_BYTES:
        return key
    return _DIGEST_PREFIX + hashlib.sha256(raw).hexdigest().encode()


def _fit_keys(keys: Sequence[Key]) -> Sequence[Key]:
    """fit_key over keys; returns the same sequence when no key needed it (the usual case)."""
    if all(len(k) <= MAX_KEY_BYTES // 4 for k in keys):  # a str of <= 64 chars is <= 256 B
        return keys
    return [fit_key(k) for k in keys]


class KVStashNativeConnector(AsyncStore):
    """AsyncStore for LMCache's ``native_plugin`` L2 adapter (MP mode).

    Constructor keyword arguments (``adapter_params``) are AsyncStore's (``server``,
    ``num_workers``, ``timeout_ms``, ``connect_timeout_ms``, ``namespace``, ``token``,
    ``transfer``, ``peer_failure``) plus ``key_prefix``: a deployment tag put in front of
    every key (``"<key_prefix>/<LMCache key>"``), for deployments that share a kvstashd
    namespace but must never share chunks; empty (the default) leaves keys as LMCache
    makes them. Raises ConnectionError when kvstashd cannot be reached.

    Everything else is AsyncStore's contract unchanged (per-key results, eventfd,
    drain_completions); keys over 256 bytes are mapped by ``fit_key``.
    Thread safety: as AsyncStore (submissions and drains from any thread).
    """

    def __init__(self, server: str = "127.0.0.1:7400", *, key_prefix: str = "", **options: Any):
        super().__init__(server, **options)
        self._key_prefix = key_prefix

    def _keys(self, keys: Sequence[Key]) -> Sequence[Key]:
        """The kvstash keys of LMCache's keys: prefixed when configured, fitted to 256 B."""
        if not self._key_prefix:
            return _fit_keys(keys)
        prefix = self._key_prefix + "/"
        return [fit_key(prefix + k if isinstance(k, str) else prefix.encode() + k) for k in keys]

    def submit_batch_get(self, keys: Sequence[Key], memoryviews: Sequence[Any]) -> int:
        """Reads each key into its memoryview; the completion's bools are per-key hits."""
        return super().submit_batch_get(self._keys(keys), memoryviews)

    def submit_batch_set(self, keys: Sequence[Key], memoryviews: Sequence[Any]) -> int:
        """Writes each memoryview under its key; bools: stored or already present."""
        return super().submit_batch_set(self._keys(keys), memoryviews)

    def submit_batch_exists(self, keys: Sequence[Key]) -> int:
        """Asks which keys are present; bools: present."""
        return super().submit_batch_exists(self._keys(keys))

    def submit_batch_delete(self, keys: Sequence[Key]) -> int:
        """Deletes the keys; bools: deleted."""
        return super().submit_batch_delete(self._keys(keys))


# --------------------------------------------------------------------------------------
# Shared helpers of the RemoteConnector: counters, a metrics hook, rate-limited logging.
# --------------------------------------------------------------------------------------

MetricsHook = Callable[[str, int], None]

COUNTERS = (
    "get_hits",  # chunks read back whole
    "get_misses",  # key absent
    "get_errors",  # transport/server error, timeout, or a value that failed validation
    "get_alloc_failures",  # the local CPU backend had no memory for the chunk
    "put_stored",
    "put_already_present",  # write-once: the same key was stored before (not a failure)
    "put_errors",
    "exists_errors",
    "bytes_read",
    "bytes_written",
)


class Counters:
    """Thread-safe named counters with an optional hook called on every increment.

    The hook gets (name, delta); it runs on the calling (I/O) thread, must be cheap, and
    an exception it raises is swallowed and counted as ``metrics_hook_errors``.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[str, int] = {name: 0 for name in COUNTERS}
        self._values["metrics_hook_errors"] = 0
        self._hook: MetricsHook | None = None

    def set_hook(self, hook: MetricsHook | None) -> None:
        """Installs (or removes, with None) the hook."""
        self._hook = hook

    def add(self, name: str, delta: int = 1) -> None:
        """Adds delta to the counter name and tells the hook."""
        with self._lock:
            self._values[name] = self._values.get(name, 0) + delta
        hook = self._hook
        if hook is None:
            return
        try:
            hook(name, delta)
        except Exception:  # noqa: BLE001 - a metrics sink must never break the data path
            with self._lock:
                self._values["metrics_hook_errors"] += 1

    def snapshot(self) -> dict[str, int]:
        """A copy of every counter."""
        with self._lock:
            return dict(self._values)


# --------------------------------------------------------------------------------------
# RemoteConnector options and value layout.
# --------------------------------------------------------------------------------------


@dataclass
class RemoteOptions:
    """Options of KVStashRemoteConnector, read from LMCache's ``extra_config`` as
    ``kvstash.<field>`` (e.g. ``kvstash.server``)."""

    server: str = "127.0.0.1:7400"
    num_workers: int = 2  # I/O threads, each with its own connection
    timeout_ms: int = 2000  # per operation: a slower store gives a miss, not a stall
    connect_timeout_ms: int = 1000
    namespace: int = 0
    token: str = ""
    transfer: str = "auto"
    peer_failure: str = "auto"
    log_interval_s: float = 10.0
    # Extra tag in the key fingerprint: deployments that must never share chunks (e.g.
    # other weights under the same model name) set different values.
    deployment: str = ""
    # Store LMCache's RemoteMetadata (length, format, dtype and shape per group) in front of
    # the bytes, as LMCache's other remote connectors do when save_chunk_meta is on (its
    # default). None: follow LMCache's save_chunk_meta.
    save_chunk_meta: bool | None = None

    @classmethod
    def from_extra_config(cls, extra: dict[str, Any] | None) -> RemoteOptions:
        """Reads the ``kvstash.*`` keys; raises ValueError on a value of the wrong type."""
        extra = extra or {}
        opts = cls()
        for f in fields(cls):
            name = f"kvstash.{f.name}"
            if name not in extra:
                continue
            value = extra[name]
            default = getattr(opts, f.name)
            try:
                if isinstance(default, bool) or f.name == "save_chunk_meta":
                    value = _to_bool(value)
                elif isinstance(default, int):
                    value = int(value)
                elif isinstance(default, float):
                    value = float(value)
                else:
                    value = str(value)
            except (TypeError, ValueError) as e:
                raise ValueError(f"extra_config {name}={value!r}: {e}") from e
            setattr(opts, f.name, value)
        if opts.num_workers < 1:
            raise ValueError("kvstash.num_workers must be >= 1")
        return opts


def _to_bool(value: object) -> bool:
    """Parses a config boolean (bool, 0/1, 'true'/'false', 'on'/'off')."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"not a boolean: {value!r}")


def layout_fingerprint(
    shapes: Sequence[Any], dtypes: Sequence[Any], fmt: Any, deployment: str
) -> str:
    """16 hex digits of SHA-256 over what decides how a chunk's bytes are read: the full
    chunk's per-group shapes and dtypes, LMCache's memory format and the deployment tag."""
    text = repr(([tuple(s) for s in shapes], [str(d) for d in dtypes], str(fmt), deployment))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def remote_key(cache_key: Any, with_meta: bool, fingerprint: str) -> Key:
    """The kvstash key of an LMCache CacheEngineKey (or LayerCacheEngineKey):
    ``lmc1m/<fingerprint>/<key>`` (metadata header, then bytes) or ``lmc1r/...`` (bytes
    only), where ``<key>`` is LMCache's ``model@world@worker@hash@dtype[@...]``.

    The two layouts never share a key, and neither do engines whose chunk layout or
    deployment tag differ, so no reader can misinterpret bytes another wrote.
    """
    prefix = "lmc1m/" if with_meta else "lmc1r/"
    return fit_key(f"{prefix}{fingerprint}/{cache_key.to_string()}")


# --------------------------------------------------------------------------------------
# The RemoteConnector. Defined only where LMCache imports.
# --------------------------------------------------------------------------------------

try:
    from lmcache.v1.memory_management import MemoryObj
    from lmcache.v1.protocol import RemoteMetadata
    from lmcache.v1.storage_backend.connector.base_connector import RemoteConnector
except ImportError as _lmcache_import_error:  # kvstash_client works without LMCache
    _LMCACHE_IMPORT_ERROR: ImportError | None = _lmcache_import_error
    RemoteConnector = object  # type: ignore[assignment,misc]
else:
    _LMCACHE_IMPORT_ERROR = None


class _Scratch:
    """A per-thread staging buffer for the metadata layout (header + bytes in one value).

    Memory comes from Store.allocate_buffer when the server offers it (one memcpy per
    transfer with a same-host server), else from a bytearray.
    """

    def __init__(self, store: Store, size: int) -> None:
        self.size = size
        self._owner: Any
        try:
            buf = store.allocate_buffer(size)
            self._owner = buf
            view = memoryview(buf)  # type: ignore[arg-type]
            self.view = view if view.format == "B" else view.cast("B")
            self.address = int(buf.ptr)
        except Exception:  # noqa: BLE001 - allocate_buffer is an optimization only
            arr = bytearray(size)
            self._owner = arr
            self.view = memoryview(arr)
            self.address = ctypes.addressof(ctypes.c_char.from_buffer(arr))


class _Worker:
    """One I/O thread's resources: its Store (connection) and its scratch buffer."""

    def __init__(self, store: Store, scratch_size: int) -> None:
        self.store = store
        self._scratch_size = scratch_size
        self._scratch: _Scratch | None = None

    def scratch(self) -> _Scratch:
        """The staging buffer, made on first use."""
        if self._scratch is None:
            self._scratch = _Scratch(self.store, self._scratch_size)
        return self._scratch


class KVStashRemoteConnector(RemoteConnector):  # type: ignore[misc,valid-type]
    """LMCache RemoteConnector over kvstash.

    Built by LMCache's plugin loader as ``cls(loop=, local_cpu_backend=, config=)``. Each
    chunk (a MemoryObj) is one kvstash value under ``remote_key``; with save_chunk_meta the
    value is LMCache's RemoteMetadata followed by the bytes (one staging copy each way, as
    kvstash values are contiguous), without it the bytes only, moved straight between
    kvstash and the MemoryObj (no copy in Python). Blocking calls run on ``num_workers``
    threads, each with its own connection, and are bounded by ``timeout_ms``.

    Thread safety: the coroutines run on LMCache's event loop; sync methods may be called
    from any thread. MemoryObj reference counts: ``get`` returns an object with one
    reference (the caller's), ``put`` leaves the caller's reference as it found it (the
    wrapper LMCache puts around every connector drops it after put returns).
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        local_cpu_backend: Any,
        config: Any,
        **_ignored: Any,
    ) -> None:
        if _LMCACHE_IMPORT_ERROR is not None:
            raise ImportError(f"KVStashRemoteConnector needs lmcache: {_LMCACHE_IMPORT_ERROR}")
        metadata = getattr(local_cpu_backend, "metadata", None)
        super().__init__(config, metadata)
        self.options = RemoteOptions.from_extra_config(getattr(config, "extra_config", None))
        if self.options.save_chunk_meta is not None:
            self.save_chunk_meta = self.options.save_chunk_meta
        self.fingerprint = layout_fingerprint(
            self.meta_shapes, self.meta_dtypes, self.meta_fmt, self.options.deployment
        )
        self.loop = loop
        self.local_cpu_backend = local_cpu_backend
        self.counters = Counters()
        self._log = RateLimitedLog(logger, self.options.log_interval_s)
        self._workers: queue.SimpleQueue[_Worker] = queue.SimpleQueue()
        self._all_workers: list[_Worker] = []
        self._connect_all()
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=self.options.num_workers, thread_name_prefix="kvstash-lmcache"
        )
        self._closed = False
        logger.info(
            "kvstash RemoteConnector: server %s, %d workers, timeout %d ms, layout %s",
            self.options.server,
            self.options.num_workers,
            self.options.timeout_ms,
            "metadata+bytes" if self.save_chunk_meta else "bytes",
        )

    def _key(self, key: Any, with_meta: bool) -> Key:
        """remote_key with this connector's fingerprint."""
        return remote_key(key, with_meta, self.fingerprint)

    # ---- set-up ------------------------------------------------------------------------

    def _connect_all(self) -> None:
        """Opens one Store per worker; raises ConnectionError naming the server if any fails."""
        o = self.options
        scratch_size = self.remote_metadata_bytes + self.full_chunk_size_bytes
        try:
            for _ in range(o.num_workers):
                store = Store(
                    o.server,
                    timeout_ms=o.timeout_ms,
                    connect_timeout_ms=o.connect_timeout_ms,
                    namespace=o.namespace,
                    token=o.token,
                    transfer=o.transfer,
                    peer_failure=o.peer_failure,
                )
                worker = _Worker(store, scratch_size)
                self._all_workers.append(worker)
                self._workers.put(worker)
        except ConnectionError as e:
            self._close_stores()
            raise ConnectionError(
                f"kvstash LMCache connector: {o.server} (kvstashd or cluster) is unreachable "
                f"(extra_config kvstash.server): {e}"
            ) from e

    def _close_stores(self) -> None:
        """Closes every Store opened so far."""
        for worker in self._all_workers:
            try:
                worker.store.close()
            except Exception:  # noqa: BLE001 - closing is best effort
                pass

    # ---- running blocking calls ----------------------------------------------------------

    def _call(self, fn: Callable[[_Worker], Any]) -> Any:
        """Runs fn with a borrowed worker (blocking; on the calling thread)."""
        worker = self._workers.get()
        try:
            return fn(worker)
        finally:
            self._workers.put(worker)

    async def _offload(
        self, fn: Callable[[_Worker], Any], on_abandon: Callable[[Any], None] | None = None
    ) -> Any:
        """Runs fn on the I/O pool and awaits it.

        When the awaiting coroutine is cancelled (LMCache cancels a get that outlives its
        blocking timeout), fn may still be using a MemoryObj; on_abandon then runs once fn
        has finished, with its result (or None), to release what fn's caller owned.
        """
        cf = self._pool.submit(self._call, fn)
        try:
            return await asyncio.wrap_future(cf)
        except asyncio.CancelledError:
            if on_abandon is not None:
                cf.add_done_callback(lambda f: on_abandon(_result_or_none(f)))
            raise

    # ---- exists ----------------------------------------------------------------------------

    def _exists_blocking(self, key: Any) -> bool:
        """True when the chunk is present; a failure is False (counted, logged)."""
        k = self._key(key, self.save_chunk_meta)
        rc = self._call(lambda w: w.store.is_exist(k))
        if rc < 0:
            self.counters.add("exists_errors")
            self._log.warn("kvstash exists failed: %s", error_name(rc), kind="exists")
            return False
        return rc == 1

    async def exists(self, key: Any) -> bool:
        """Whether the chunk of key is stored (False on any failure)."""
        return await self._offload_safely(lambda: self._exists_blocking(key), False)

    def exists_sync(self, key: Any) -> bool:
        """exists(), on the calling thread."""
        return self._guard(lambda: self._exists_blocking(key), False)

    def support_batched_contains(self) -> bool:
        """kvstash answers the prefix question in one call (longest_prefix)."""
        return True

    def batched_contains(self, keys: list[Any]) -> int:
        """How many leading keys are stored; 0 on any failure."""
        return self._guard(lambda: self._prefix_blocking(keys), 0)

    async def batched_async_contains(
        self, lookup_id: str, keys: list[Any], pin: bool = False
    ) -> int:
        """batched_contains() on the I/O pool (kvstash has no pins; pin is ignored)."""
        return await self._offload_safely(lambda: self._prefix_blocking(keys), 0)

    def _prefix_blocking(self, keys: list[Any]) -> int:
        """Leading present keys, through Store.longest_prefix."""
        if not keys:
            return 0
        ks = [self._key(k, self.save_chunk_meta) for k in keys]
        n = self._call(lambda w: w.store.longest_prefix(ks))
        if n < 0:
            self.counters.add("exists_errors")
            self._log.warn("kvstash longest_prefix failed: %s", error_name(n), kind="exists")
            return 0
        return int(n)

    # ---- get -------------------------------------------------------------------------------

    async def get(self, key: Any) -> MemoryObj | None:
        """The chunk of key in a MemoryObj from the local CPU backend, or None on a miss or
        any failure."""
        if self.save_chunk_meta:
            return await self._get_with_meta(key)
        obj = self._allocate_full()
        if obj is None:
            return None
        try:
            n = await self._offload(
                lambda w: self._read_into(w, key, obj), on_abandon=lambda _: obj.ref_count_down()
            )
        except asyncio.CancelledError:
            raise
        except Exception as e:  # noqa: BLE001 - the data path never raises
            self._count_get_error("get", e)
            obj.ref_count_down()
            return None
        return self._finish_raw_get(obj, n)

    def _allocate_full(self) -> MemoryObj | None:
        """A full-chunk MemoryObj from the local CPU backend, or None (counted)."""
        try:
            obj = self.local_cpu_backend.allocate(self.meta_shapes, self.meta_dtypes, self.meta_fmt)
        except Exception as e:  # noqa: BLE001
            self._log.warn("kvstash get: local allocation failed: %s", e, kind="alloc")
            obj = None
        if obj is None:
            self.counters.add("get_alloc_failures")
        return obj

    def _read_into(self, worker: _Worker, key: Any, obj: MemoryObj) -> int:
        """Reads the bytes-only value of key straight into obj; bytes read or < 0."""
        k = self._key(key, False)
        return worker.store.get_into(k, int(obj.data_ptr), int(obj.get_size()))

    def _finish_raw_get(self, obj: MemoryObj, n: int) -> MemoryObj | None:
        """Counts the outcome of a bytes-only read and shapes a partial chunk."""
        if n < 0:
            obj.ref_count_down()
            self._count_get_rc(n)
            return None
        try:
            obj = self.reshape_partial_chunk(obj, n)
            _sync_group_shape(obj)
        except Exception as e:  # noqa: BLE001 - a size that is no whole token count
            obj.ref_count_down()
            self._count_get_error("size", e)
            return None
        self.counters.add("get_hits")
        self.counters.add("bytes_read", n)
        return obj

    async def _get_with_meta(self, key: Any) -> MemoryObj | None:
        """Reads header + bytes into a worker's scratch, then into a fresh MemoryObj."""
        k = self._key(key, True)

        def release(obj: MemoryObj | None) -> None:
            if obj is not None:
                obj.ref_count_down()

        try:
            return await self._offload(lambda w: self._read_meta_value(w, k), on_abandon=release)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # noqa: BLE001 - the data path never raises
            self._count_get_error("get", e)
            return None

    def _read_meta_value(self, worker: _Worker, k: Key) -> MemoryObj | None:
        """One metadata-layout read on worker; None on a miss or an invalid value."""
        scratch = worker.scratch()
        n = worker.store.get_into(k, scratch.view, scratch.size)
        if n < 0:
            self._count_get_rc(n)
            return None
        header = self.remote_metadata_bytes
        try:
            meta = RemoteMetadata.deserialize(bytes(scratch.view[:header])) if n >= header else None
        except Exception:  # noqa: BLE001 - an unknown dtype or format code
            meta = None
        if meta is None or meta.length != n - header:
            self._count_get_error("value", ValueError(f"value of {n} bytes has no valid header"))
            return None
        obj = self.local_cpu_backend.allocate(meta.shapes, meta.dtypes, meta.fmt)
        if obj is None:
            self.counters.add("get_alloc_failures")
            return None
        if obj.get_size() != meta.length:
            obj.ref_count_down()
            self._count_get_error("value", ValueError("header shape does not match length"))
            return None
        ctypes.memmove(int(obj.data_ptr), scratch.address + header, meta.length)
        self.counters.add("get_hits")
        self.counters.add("bytes_read", meta.length)
        return obj

    def _count_get_rc(self, rc: int) -> None:
        """Counts a negative get_into result: NOT_FOUND is a miss, the rest errors."""
        if rc == ErrorCode.NOT_FOUND:
            self.counters.add("get_misses")
            return
        self.counters.add("get_errors")
        self._log.warn("kvstash get failed: %s", error_name(rc), kind="get")

    def _count_get_error(self, kind: str, e: BaseException) -> None:
        """Counts and logs (rate-limited) a get that failed for a reason other than a code."""
        self.counters.add("get_errors")
        self._log.warn("kvstash get failed: %s", e, kind=f"get-{kind}")

    # ---- put -------------------------------------------------------------------------------

    async def put(self, key: Any, memory_obj: MemoryObj) -> None:
        """Stores memory_obj under key. Never raises; an existing key counts as stored.

        Holds a reference of its own while the I/O thread reads the object, so a cancelled
        put cannot let the memory be reused under the transfer.
        """
        memory_obj.ref_count_up()
        release = memory_obj.ref_count_down
        try:
            await self._offload(
                lambda w: self._write(w, key, memory_obj), on_abandon=lambda _: release()
            )
        except asyncio.CancelledError:
            raise
        except Exception as e:  # noqa: BLE001
            self.counters.add("put_errors")
            self._log.warn("kvstash put failed: %s", e, kind="put")
        release()

    def _write(self, worker: _Worker, key: Any, obj: MemoryObj) -> None:
        """One put on worker, in the configured layout; counts the outcome."""
        size = int(obj.get_size())
        if self.save_chunk_meta:
            scratch = worker.scratch()
            header = self.remote_metadata_bytes
            if header + size > scratch.size:
                raise ValueError(f"chunk of {size} bytes is larger than a full chunk")
            meta = RemoteMetadata(size, obj.get_shapes(), obj.get_dtypes(), obj.get_memory_format())
            meta.serialize_into(scratch.view)
            ctypes.memmove(scratch.address + header, int(obj.data_ptr), size)
            rc = worker.store.put(self._key(key, True), scratch.view[: header + size])
        else:
            rc = worker.store.put_from(self._key(key, False), int(obj.data_ptr), size)
        self._count_put_rc(rc, size)

    def _count_put_rc(self, rc: int, size: int) -> None:
        """Counts a put's return code."""
        if rc >= 0:
            self.counters.add("put_stored")
            self.counters.add("bytes_written", size)
        elif rc == ErrorCode.ALREADY_EXISTS:
            self.counters.add("put_already_present")
        else:
            self.counters.add("put_errors")
            self._log.warn("kvstash put failed: %s", error_name(rc), kind="put")

    def support_batched_put(self) -> bool:
        """Batched puts run concurrently over the workers."""
        return True

    async def batched_put(self, keys: list[Any], memory_objs: list[MemoryObj]) -> None:
        """put() of every pair, concurrently; never raises."""
        await asyncio.gather(*(self.put(k, o) for k, o in zip(keys, memory_objs, strict=True)))

    # ---- housekeeping ----------------------------------------------------------------------

    def remove_sync(self, key: Any) -> bool:
        """Deletes the chunk of key; False when absent or on failure."""
        k = self._key(key, self.save_chunk_meta)
        return self._guard(lambda: self._call(lambda w: w.store.remove(k)) == 0, False)

    async def list(self) -> list[str]:
        """kvstash does not enumerate keys; always empty."""
        return []

    def support_ping(self) -> bool:
        """ping() asks the server for its stats."""
        return True

    async def ping(self) -> int:
        """0 when kvstashd answers, else a negative ErrorCode."""
        stats = await self._offload_safely(lambda: self._call(lambda w: w.store.stats()), {})
        return 0 if stats else int(ErrorCode.UNAVAILABLE)

    def stats(self) -> dict[str, int]:
        """This connector's counters (``lmcache.*``) and the first Store's (client/server)."""
        out = {f"lmcache.{k}": v for k, v in self.counters.snapshot().items()}
        if self._all_workers:
            out.update(self._guard(lambda: dict(self._all_workers[0].store.stats()), {}))
        return out

    def set_metrics_hook(self, hook: MetricsHook | None) -> None:
        """Calls hook(counter_name, delta) on every counter change (see Counters)."""
        self.counters.set_hook(hook)

    async def close(self) -> None:
        """Waits for calls in flight, then closes every connection. Idempotent."""
        if self._closed:
            return
        self._closed = True
        await asyncio.get_running_loop().run_in_executor(None, self._shutdown)

    def _shutdown(self) -> None:
        """close() on the calling thread."""
        self._pool.shutdown(wait=True)
        self._close_stores()

    # ---- guards ----------------------------------------------------------------------------

    def _guard(self, fn: Callable[[], Any], fallback: Any) -> Any:
        """fn(), or fallback (logged) if it raises."""
        try:
            return fn()
        except Exception as e:  # noqa: BLE001 - the data path never raises
            self._log.warn("kvstash connector call failed: %r", e, kind="internal")
            return fallback

    async def _offload_safely(self, fn: Callable[[], Any], fallback: Any) -> Any:
        """fn() on the I/O pool (it borrows a worker itself), or fallback if it raises."""
        try:
            return await asyncio.wrap_future(self._pool.submit(self._guard, fn, fallback))
        except RuntimeError as e:  # the pool is shut down
            self._log.warn("kvstash connector used after close: %s", e, kind="closed")
            return fallback

    def __repr__(self) -> str:
        return f"<KVStashRemoteConnector {self.options.server}>"


def _sync_group_shape(obj: Any) -> None:
    """After LMCache's reshape_partial_chunk, which updates only the legacy ``meta.shape``,
    makes the per-group ``meta.shapes`` agree for a single-group object, so get_shapes()
    and get_size() describe the partial chunk too."""
    meta = getattr(obj, "meta", None)
    shapes = getattr(meta, "shapes", None)
    if meta is not None and shapes is not None and len(shapes) == 1 and shapes[0] != meta.shape:
        meta.shapes = [meta.shape]


def _result_or_none(f: concurrent.futures.Future[Any]) -> Any:
    """A finished future's result, None if it failed or was cancelled."""
    if f.cancelled() or f.exception() is not None:
        return None
    return f.result()


__all__ = [
    "KVStashNativeConnector",
    "KVStashRemoteConnector",
    "RemoteOptions",
    "fit_key",
    "layout_fingerprint",
    "remote_key",
]
