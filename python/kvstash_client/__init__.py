"""kvstash_client: the Python client of kvstash and its inference-engine connectors.

    from kvstash_client import Store
    store = Store("127.0.0.1:7400")        # raises ConnectionError if kvstashd is unreachable
    store.put("llama@0@abc", b"...")      # 0, or a negative ErrorCode
    data = store.get("llama@0@abc")        # b"" on a miss

Store follows Mooncake Store's Python API (names and return conventions); AsyncStore is
LMCache's native connector contract. Engine connectors: kvstash_client.sglang (SGLang
HiCache) and kvstash_client.lmcache (LMCache). See docs/INTEGRATIONS.md.
"""

from enum import IntEnum

from kvstash_client._native import (
    AsyncStore,
    Buffer,
    Store,
    cuda_support,
    error_name,
    last_error,
)

__all__ = [
    "AsyncStore",
    "Buffer",
    "ErrorCode",
    "Store",
    "cuda_support",
    "error_name",
    "last_error",
]
__version__ = "0.1.0"


class ErrorCode(IntEnum):
    """Negative return codes: -StatusCode of the C++ client (include/kvstash/status.h)."""

    OK = 0
    NOT_FOUND = -1
    ALREADY_EXISTS = -2
    BUSY = -3
    RESOURCE_EXHAUSTED = -4
    INVALID_ARGUMENT = -5
    DATA_LOSS = -6
    IO_ERROR = -7
    UNAVAILABLE = -8
    PERMISSION_DENIED = -9
    LEASE_EXPIRED = -10
    TIMEOUT = -11
    INTERNAL = -12
