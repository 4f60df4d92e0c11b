"""Generates pplane_client/models.py from the repository's openapi.json, and
the blocking client (_sync.py) from the asyncio one (aio.py).

`python scripts/generate.py` writes it; `--check` fails when the committed
file is not what the generator makes of today's document (the server's API
changed and the client did not follow).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
SPEC = HERE.parent.parent / "openapi.json"
PACKAGE = HERE / "src" / "pplane_client"
TARGET = PACKAGE / "models.py"
ASYNC, SYNC = PACKAGE / "aio.py", PACKAGE / "_sync.py"
# aio.py -> _sync.py, in order.
UNASYNC = [
    (r"import AsyncIterator, Awaitable, Callable$", "import Callable, Iterator"),
    (r"\basync def ", "def "),
    (r"\basync for ", "for "),
    (r"\basync with ", "with "),
    (r"\bawait ", ""),
    (r"\bAsync([A-Z]\w*)", r"\1"),
    (r"\bAsyncIterator\b", "Iterator"),
    (r"httpx\.AsyncClient", "httpx.Client"),
    (r"asyncio\.sleep", "time.sleep"),
    (r"^import asyncio\n", ""),
    (r"^import os\n", "import os\nimport time\n"),
    (r"Awaitable\[T\]", "T"),
    (r", Awaitable, ", ", "),
    (r"__aenter__", "__enter__"),
    (r"__aexit__", "__exit__"),
    (r"\baclose\(", "close("),
    (r"^( +)for (\w+) in ([\w.]+):\n +yield \2\n", r"\1yield from \3\n"),
]
SYNC_DOC = (
    '"""The blocking client: ``Pplane`` and its handles on runs, steps and tool\n'
    "calls. Made from ``aio.py`` by ``scripts/generate.py``; edit that file, not\n"
    'this one."""\n'
)
OPTIONS = [
    "--input-file-type",
    "openapi",
    "--output-model-type",
    "pydantic_v2.BaseModel",
    "--target-python-version",
    "3.10",
    "--use-standard-collections",
    "--use-union-operator",
    "--field-constraints",
    "--enum-field-as-literal",
    "all",
    "--disable-timestamp",
    "--use-double-quotes",
    "--use-schema-description",
    "--use-field-description",
    "--collapse-root-models",
    "--formatters",
    "black",
    "isort",
]


def generate(output: Path) -> None:
    command = ["datamodel-codegen", "--input", str(SPEC), "--output", str(output), *OPTIONS]
    # The generator warns about its own future defaults; the options above pin them.
    env = {**os.environ, "PYTHONWARNINGS": "ignore::FutureWarning"}
    subprocess.run(command, check=True, cwd=HERE, env=env)
    text = output.read_text().replace("#   filename:  openapi.json", "#   from the repository's openapi.json")
    output.write_text(text)


def unasync(source: str) -> str:
    """The blocking twin of the asyncio client's source."""
    body = source[source.index('"""', 3) + 3 :].lstrip("\n")
    for pattern, replacement in UNASYNC:
        body = re.sub(pattern, replacement, body, flags=re.MULTILINE)
    # Renamed imports sort differently and shorter names break lines
    # elsewhere: sort and format as the linters want the source.
    text = SYNC_DOC + "\n" + body
    for ruff in (["check", "--select", "I", "--fix", "--quiet"], ["format"]):
        text = subprocess.run(
            ["ruff", *ruff, "--stdin-filename", str(SYNC), "-"],
            input=text,
            capture_output=True,
            text=True,
            check=True,
            cwd=HERE,
        ).stdout
    return text


def main() -> int:
    if "--check" not in sys.argv:
        generate(TARGET)
        SYNC.write_text(unasync(ASYNC.read_text()))
        return 0
    if SYNC.read_text() != unasync(ASYNC.read_text()):
        print(
            "pplane_client/_sync.py is stale: run `python scripts/generate.py` after editing aio.py.", file=sys.stderr
        )
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp) / "models.py"
        generate(fresh)
        if fresh.read_text() != TARGET.read_text():
            print(
                "pplane_client/models.py is stale: openapi.json changed. "
                "Run `python scripts/generate.py` in clients/python and commit it.",
                file=sys.stderr,
            )
            return 1
    print("generated models match openapi.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
