"""Type stubs of kvstash_client._native, the pybind11 module over the C++ client (libkvstash).

Conventions follow Mooncake Store's Python API where they fit: calls return 0 (or a byte
count) on success and a negative ErrorCode on failure; nothing on the data path raises.
Only the constructors raise (ConnectionError when kvstashd cannot be reached at start-up,
ValueError for bad options), because a connector that cannot reach its store at start-up
should fail loudly. Every blocking call releases the GIL.

`server` is one kvstashd, "HOST:PORT", or a cluster of them:
"etcd://HOST:PORT[,HOST:PORT]/CLUSTER" (nodes registered in etcd by kvstashd --etcd) or
"nodes://NAME=HOST:PORT[*WEIGHT],..." (a static list). With a cluster each key goes to its
owner node, batches are split by owner and run in parallel, and a node that fails is
quarantined: its keys are misses (get -> b"", NOT_FOUND, is_exist 0) and puts to it fail
with UNAVAILABLE at once, while the other nodes' keys are unaffected. A cluster constructor
raises ConnectionError only when etcd cannot be reached; nodes are connected on first use.

A "buffer" argument is any object with the buffer protocol (bytes, bytearray, memoryview,
numpy array), with __dlpack__ (torch, numpy, cupy, jax) or with __cuda_array_interface__,
contiguous; or a raw address given as an int together with a size. Device memory goes
through the client's CUDA path when the module was built with CUDA (cuda_support()).
"""

from collections.abc import Sequence
from typing import Any

Key = str | bytes

class ErrorCode:  # the IntEnum of kvstash_client
    OK: int  # 0
    NOT_FOUND: int  # -1: a miss
    ALREADY_EXISTS: int  # -2: the key is committed (blocks are written once)
    BUSY: int  # -3: another writer holds the key
    RESOURCE_EXHAUSTED: int  # -4
    INVALID_ARGUMENT: int  # -5
    DATA_LOSS: int  # -6
    IO_ERROR: int  # -7
    UNAVAILABLE: int  # -8
    PERMISSION_DENIED: int  # -9
    LEASE_EXPIRED: int  # -10
    TIMEOUT: int  # -11
    INTERNAL: int  # -12

def error_name(code: int) -> str: ...
def last_error() -> str: ...  # this thread's last failure message from any kvstash call
def cuda_support() -> bool: ...

class Buffer:
    """Memory from Store.allocate_buffer: registered, shared with a same-host server; with a
    cluster, ordinary page-aligned host memory (zeroed), moved as unregistered memory.
    Supports the buffer protocol (memoryview(buf), numpy.frombuffer(buf, ...))."""
    @property
    def ptr(self) -> int: ...
    @property
    def size(self) -> int: ...
    def __len__(self) -> int: ...

class Store:
    """A blocking client of one kvstashd or of a cluster (see the module docstring)."""
    def __init__(
        self,
        server: str = "127.0.0.1:7400",
        *,
        timeout_ms: int = 5000,
        connect_timeout_ms: int = 1000,
        namespace: int = 0,
        token: str = "",
        send_checksums: bool = True,
        transfer: str = "auto",  # "auto" | "rma" | "message"
        peer_failure: str = "auto",  # "auto" | "on" | "off"
    ) -> None: ...
    def put(self, key: Key, value: Any) -> int: ...
    def put_from(self, key: Key, buffer_ptr: int, size: int) -> int: ...
    def get(self, key: Key) -> bytes: ...  # b"" on a miss or an error (see last_error())
    def get_into(self, key: Key, buffer: Any, size: int | None = None) -> int: ...
    def get_size(self, key: Key) -> int: ...
    def is_exist(self, key: Key) -> int: ...  # 1 present, 0 absent, < 0 error
    def remove(self, key: Key) -> int: ...
    # Single server: registers the range, so gets into it are zero-copy. Cluster: records the
    # range only and returns 0; transfers from and into it go through each node's client as
    # unregistered memory (staged: one extra copy on gets).
    def register_buffer(self, buffer: Any, size: int | None = None) -> int: ...
    def unregister_buffer(self, buffer: Any) -> int: ...
    def allocate_buffer(self, size: int) -> Buffer: ...  # raises RuntimeError on failure
    def batch_put_from(
        self, keys: Sequence[Key], buffer_ptrs: Sequence[int], sizes: Sequence[int]
    ) -> list[int]: ...
    def batch_get_into(
        self, keys: Sequence[Key], buffer_ptrs: Sequence[int], sizes: Sequence[int]
    ) -> list[int]: ...  # bytes read per key, or a negative ErrorCode (NOT_FOUND on a miss)
    def batch_put(self, keys: Sequence[Key], values: Sequence[Any]) -> list[int]: ...
    def batch_get(self, keys: Sequence[Key], buffers: Sequence[Any]) -> list[int]: ...
    def batch_is_exist(self, keys: Sequence[Key]) -> list[int]: ...
    def batch_remove(self, keys: Sequence[Key]) -> list[int]: ...
    def longest_prefix(self, keys: Sequence[Key]) -> int: ...  # leading keys present, or < 0
    # server.*, store.*, client.* and python.* counters; with a cluster, cluster.* and each
    # node's "<node>/server.*" etc. instead of server.*, store.*, client.*.
    def stats(self) -> dict[str, int]: ...
    # One dict per node: name, address, state ("up", "draining", "quarantined"; a single
    # server: "up" or "unreachable", asked now), boot_id, weight, dram_bytes, flash_bytes,
    # metrics_address, connected, failures (calls failed with UNAVAILABLE or TIMEOUT from
    # this Store). A single server is one entry named by its address. [] once closed.
    def nodes(self) -> list[dict[str, Any]]: ...
    def last_error(self) -> str: ...  # this thread's last failure from any Store (= last_error())
    def close(self) -> None: ...
    @property
    def server(self) -> str: ...
    def __enter__(self) -> Store: ...
    def __exit__(self, *exc: object) -> None: ...

Completion = tuple[int, bool, str, list[bool] | None]

class AsyncStore:
    """LMCache's native connector contract (IStorageConnector): submissions return a future
    id at once; worker threads, each with its own connection (to each node of a cluster),
    run them; completions are signalled on event_fd() and collected with
    drain_completions(). Loaded by LMCache's native_plugin L2 adapter as-is."""
    def __init__(
        self,
        server: str = "127.0.0.1:7400",
        *,
        num_workers: int = 2,
        timeout_ms: int = 5000,
        connect_timeout_ms: int = 1000,
        namespace: int = 0,
        token: str = "",
        transfer: str = "auto",
        peer_failure: str = "auto",
    ) -> None: ...
    def event_fd(self) -> int: ...
    def submit_batch_get(self, keys: Sequence[Key], memoryviews: Sequence[Any]) -> int: ...
    def submit_batch_set(self, keys: Sequence[Key], memoryviews: Sequence[Any]) -> int: ...
    def submit_batch_exists(self, keys: Sequence[Key]) -> int: ...
    def submit_batch_delete(self, keys: Sequence[Key]) -> int: ...
    # (future_id, ok, error, per-key bools): get = hit, set = stored or already present,
    # exists = present, delete = deleted. ok is False when the whole batch failed.
    def drain_completions(self) -> list[Completion]: ...
    def stats(self) -> dict[str, int]: ...
    def close(self) -> None: ...
