"""Numbers formatted for people: 1.2 M params, 83.4%, 148.6 KiB."""

from __future__ import annotations


def count(n: float) -> str:
    """1234 -> '1.2 k', 11_689_512 -> '11.7 M'."""
    for limit, suffix in ((1e9, " G"), (1e6, " M"), (1e3, " k")):
        if abs(n) >= limit:
            return f"{n / limit:.1f}{suffix}"
    return f"{n:.0f}"


def percent(fraction: float, digits: int = 1) -> str:
    """0.834 -> '83.4%'."""
    return f"{100 * fraction:.{digits}f}%"


def points(delta_fraction: float) -> str:
    """Accuracy change in percentage points, signed: -0.012 -> '-1.2 pt'."""
    return f"{100 * delta_fraction:+.1f} pt"


def size(n_bytes: float) -> str:
    """Bytes in binary units: 153064 -> '149.5 KiB'."""
    for limit, suffix in ((2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
        if n_bytes >= limit:
            return f"{n_bytes / limit:.1f} {suffix}"
    return f"{n_bytes:.0f} B"
