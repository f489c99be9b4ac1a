"""Build the time shim ahead of time: ``python -m grader.worker.clock [FOLDER]`` prints its path.

Exits 1 with the reason where it cannot be built (the grader then keeps its Python-level clock).
"""

from __future__ import annotations

import sys

from grader.worker.clock import BuildError, build


def main(argv: list[str]) -> int:
    try:
        print(build(argv[0] if argv else None))
    except BuildError as error:
        print(f"time shim not built: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
