"""The figure helper process (see ``fittrace.autologging.figures``): JSON jobs in, PNG bytes out.

Reads one JSON job per line on stdin, ``{"id", "render": "module:function", "doc"}``, and
answers each on stdout with a header line ``{"id", "size"}`` (or ``{"id", "error"}``) followed
by ``size`` bytes of PNG. Ends when stdin closes. It runs at a lower scheduling priority: on a
machine with few cores, drawing plots (and importing matplotlib first) must not slow the training.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import pkgutil
import sys

NICENESS = 10


def main() -> None:
    with contextlib.suppress(AttributeError, OSError):  # os.nice: not on Windows
        os.nice(NICENESS)
    out = sys.stdout.buffer
    sys.stdout = sys.stderr  # only frames go to the parent
    for line in sys.stdin.buffer:
        job = json.loads(line)
        try:
            figure = pkgutil.resolve_name(job["render"])(job["doc"])
            buffer = io.BytesIO()
            figure.savefig(buffer, format="png")
            data = buffer.getvalue()
            header = {"id": job["id"], "size": len(data)}
        except Exception as e:
            data, header = b"", {"id": job["id"], "error": f"{type(e).__name__}: {e}"}
        out.write(json.dumps(header).encode() + b"\n" + data)
        out.flush()


if __name__ == "__main__":
    main()
