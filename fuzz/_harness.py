"""What the atheris fuzz scripts share: the command line, smoke runs and atheris set-up.

Each ``fuzz/atheris_*.py`` script defines its targets (``build_targets``, which
imports the code under test so that atheris can instrument it) and how to make
a random input for a smoke run; :func:`main` does the rest::

    python fuzz/atheris_X.py TARGET [libFuzzer args]    # coverage-guided, needs atheris
    python fuzz/atheris_X.py --smoke [N]                # every target, N random inputs
    python fuzz/atheris_X.py list                       # the target names
"""

from __future__ import annotations

import importlib.util
import random
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

Target = Callable[[bytes], None]


def ensure_importable(package: str) -> None:
    """Put the checkout on ``sys.path`` when ``package`` is not installed.

    ``find_spec``, not an import: the code must first be imported under atheris'
    instrumentation to give libFuzzer coverage feedback.
    """
    if importlib.util.find_spec(package) is None:
        root = Path(__file__).resolve().parent.parent
        sys.path[:0] = [str(root), str(root / "plugins")]


def split(data: bytes, scale: int = 1) -> list[bytes]:
    """Use the first byte(s) of the input as chunk lengths, so the fuzzer explores chunkings."""
    if not data:
        return []
    n = data[0] % 8 + 1
    sizes, rest = data[1 : 1 + n], data[1 + n :]
    chunks, pos = [], 0
    for s in sizes:
        chunks.append(rest[pos : pos + s * scale])
        pos += s * scale
    chunks.append(rest[pos:])
    return chunks


def random_bytes(rnd: random.Random, specials: bytes, max_len: int, p: float) -> bytes:
    """Up to ``max_len`` random bytes, a fraction ``p`` of them drawn from ``specials``."""
    return bytes(rnd.choice(specials) if rnd.random() < p else rnd.randrange(256)
                 for _ in range(rnd.randrange(max_len)))  # fmt: skip


def smoke(
    names: Sequence[str], targets: dict[str, Target], make_input: Callable[[str, random.Random], bytes],
    iterations: int, seed: int, runs: Callable[[str, int], int] = lambda _name, n: n,
) -> int:  # fmt: skip
    """Run every target on random inputs (no atheris needed); for CI and quick checks."""
    rnd = random.Random(seed)
    for name in names:
        n = runs(name, iterations)
        for _ in range(n):
            targets[name](make_input(name, rnd))
        print(f"{name}: {n} inputs ok")
    return 0


def main(
    argv: list[str], *, doc: str, package: str, names: Sequence[str],
    build_targets: Callable[[], dict[str, Target]], run_smoke: Callable[[int], int],
) -> int:  # fmt: skip
    """``SCRIPT TARGET [libFuzzer args]``, ``SCRIPT --smoke [N]`` or ``SCRIPT list``."""
    if len(argv) >= 2 and argv[1] == "--smoke":
        return run_smoke(int(argv[2]) if len(argv) > 2 else 1000)
    if len(argv) >= 2 and argv[1] == "list":
        print("\n".join(names))
        return 0
    if len(argv) < 2 or argv[1] not in names:
        print(doc, file=sys.stderr)
        print(
            f"error: choose a target: {', '.join(names)} (or --smoke N, or list)", file=sys.stderr
        )
        return 2
    try:
        import atheris
    except ImportError:
        print(
            "atheris is not installed, so coverage-guided fuzzing is unavailable.\n"
            "Install it with `pip install atheris` (Linux x86-64/arm64 wheels; elsewhere it needs\n"
            "clang with libFuzzer), or run the targets on random inputs without it:\n"
            f"    python {argv[0]} --smoke 2000",
            file=sys.stderr,
        )
        return 2
    ensure_importable(package)
    with atheris.instrument_imports():
        targets = build_targets()
    atheris.Setup([argv[0], *argv[2:]], targets[argv[1]])
    atheris.Fuzz()
    return 0
