"""Sizes as operators read them."""


def human_kib(kib: int | float) -> str:
    size = float(kib)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "KiB" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"


def gib_ceil(kib: int) -> int:
    """What `du -s -B G` prints: sizes rounded up to whole GiB."""
    return -(-int(kib) // (1024 * 1024))


def parse_size_kib(text: str) -> int:
    """'20G', '512M', '1.5T', '1048576' (KiB) -> KiB."""
    t = text.strip().upper().removesuffix("B").removesuffix("I")
    mult = {"K": 1, "M": 1024, "G": 1024 ** 2, "T": 1024 ** 3}
    if t and t[-1] in mult:
        return int(float(t[:-1]) * mult[t[-1]])
    return int(float(t))
