"""ConnectorOptions: the options every engine connector shares, parsed and checked once.

Each connector's config is a frozen dataclass that subclasses ConnectorOptions: it adds its
own fields, may change a default (redeclare the field), and extends validate(). Options come
from an engine's JSON (strings, numbers, booleans) and are converted to the field's type.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, ClassVar, TypeVar

from kvstash_client._native import Store

T = TypeVar("T", bound="ConnectorOptions")

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")
# Addresses of a cluster of kvstashd nodes rather than of one (kvstash::IsClusterAddress).
CLUSTER_SCHEMES = ("etcd://", "nodes://")


def is_cluster_address(server: str) -> bool:
    """True if `server` names a cluster ("etcd://..." or "nodes://...") rather than one
    kvstashd ("HOST:PORT")."""
    return server.startswith(CLUSTER_SCHEMES)


@dataclass(frozen=True)
class ConnectorOptions:
    """Where kvstashd is and how to talk to it; `deployment` salts the key fingerprint.

    `server` is one kvstashd, "HOST:PORT", or a cluster: "etcd://HOST:PORT[,HOST:PORT]/NAME"
    or "nodes://NAME=HOST:PORT,..." (checked in full by the Store when it connects)."""

    # Prefix of error messages, e.g. "kvstash vLLM connector".
    WHAT: ClassVar[str] = "kvstash"
    # Where the user sets the options, for the unreachable-server message.
    WHERE: ClassVar[str] = "the connector's options"

    server: str = "127.0.0.1:7400"
    timeout_ms: int = 1000  # per call: bounds how long a dead kvstashd can hold the engine
    connect_timeout_ms: int = 1000
    namespace: int = 0  # kvstash tenant
    token: str = ""
    transfer: str = "auto"  # auto | rma | message
    # Mixed into the key fingerprint: deployments that must never share blocks (e.g. other
    # weights under the same model name) set different values.
    deployment: str = ""
    log_interval_s: float = 10.0

    @classmethod
    def parse(cls: type[T], options: dict[str, Any] | None, *, strict: bool = True) -> T:
        """Builds a validated config. strict: an unknown key is a ValueError (else ignored,
        for JSON that also carries the engine's own keys)."""
        options = dict(options or {})
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(options) - set(known))
        if unknown and strict:
            raise ValueError(f"{cls.WHAT}: unknown option(s) {unknown}; known: {sorted(known)}")
        values = {
            name: _convert(cls.WHAT, name, value, type(getattr(cls, name)))
            for name, value in options.items()
            if name in known
        }
        config = cls(**values)
        config.validate()
        return config

    def validate(self) -> None:
        """Raises ValueError for an option that cannot work."""
        if is_cluster_address(self.server):
            scheme = next(s for s in CLUSTER_SCHEMES if self.server.startswith(s))
            if len(self.server) == len(scheme):
                raise ValueError(f"{self.WHAT}: server {self.server!r} names no cluster")
        elif not self.server or ":" not in self.server or "://" in self.server:
            raise ValueError(
                f"{self.WHAT}: server must be HOST:PORT, etcd://HOST:PORT/CLUSTER or "
                f"nodes://NAME=HOST:PORT,..., got {self.server!r}"
            )
        if self.timeout_ms <= 0 or self.connect_timeout_ms <= 0:
            raise ValueError(f"{self.WHAT}: timeout_ms and connect_timeout_ms must be positive")
        if not 0 <= self.namespace <= 0xFFFF:
            raise ValueError(f"{self.WHAT}: namespace must be in [0, 65535], got {self.namespace}")
        if self.transfer not in ("auto", "rma", "message"):
            raise ValueError(
                f"{self.WHAT}: transfer must be auto|rma|message, got {self.transfer!r}"
            )
        if self.log_interval_s < 0:
            raise ValueError(f"{self.WHAT}: log_interval_s must be >= 0")

    def connect(self, timeout_ms: int | None = None) -> Store:
        """Opens a Store; an unreachable kvstashd (or a cluster's etcd) is a ConnectionError
        saying what to fix."""
        try:
            return Store(
                self.server,
                timeout_ms=timeout_ms or self.timeout_ms,
                connect_timeout_ms=self.connect_timeout_ms,
                namespace=self.namespace,
                token=self.token,
                transfer=self.transfer,
            )
        except ConnectionError as err:
            if is_cluster_address(self.server):
                raise ConnectionError(
                    f"{self.WHAT}: cannot reach the kvstash cluster {self.server} ({err}). "
                    f'Start its etcd and kvstashd nodes or set "server" in {self.WHERE}.'
                ) from err
            raise ConnectionError(
                f"{self.WHAT}: cannot reach kvstashd at {self.server} ({err}). Start kvstashd "
                f'there or set "server" in {self.WHERE}.'
            ) from err


def _convert(what: str, name: str, value: Any, kind: type) -> Any:
    """value as the field's type; a ValueError naming the option when it is not one."""
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in _TRUE + _FALSE:
            return value.lower() in _TRUE
        raise ValueError(f"{what}: {name} must be true or false, got {value!r}")
    if kind is int and isinstance(value, (bool, float)):
        raise ValueError(f"{what}: {name} must be an integer, got {value!r}")
    try:
        return kind(value)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{what}: {name}={value!r}: {err}") from err
