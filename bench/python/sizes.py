"""parse_size: "1MiB" -> 1048576, shared by the Python benchmarks (no dependencies, so that
both kvstash's and Mooncake's virtualenvs can import it from this folder)."""


def parse_size(text: str) -> int:
    """Bytes of a size written as N, NKiB, NMiB or NGiB (N may have a fraction)."""
    units = {"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}
    for suffix, mult in units.items():
        if text.endswith(suffix):
            return int(float(text[: -len(suffix)]) * mult)
    return int(text)
