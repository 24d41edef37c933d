"""Every shell block of README.md works as pasted: in a fresh clone, on a plain machine.

A marker line stands before each ```bash block of the README:

    <!-- readme-test: run -->                     run it: it must exit 0
    <!-- readme-test: run expect: PATH ... -->    ... and leave these paths behind
    <!-- readme-test: skip (why) -->              not run here (a cluster, a cloud account)

A shell block without one fails ``test_every_shell_block_is_marked``: no README command
escapes. The runnable blocks run in README order, each with ``bash -e``, in one fresh
clone of the committed HEAD, with Debian's default PATH (no ``python`` command, nothing of
the environment this suite runs in). Once a block has made the clone's ``.venv`` (the quick
start does), the next ones run with it activated, as in the terminal of a user who pasted
the quick start. What a block leaves running in the background (luigid, on the README's port
8082) is stopped after it.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
SHELL_LANGUAGES = {"bash", "sh", "shell"}
FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*([\w+-]*)")
MARKER = re.compile(r"^\s*<!--\s*readme-test:\s*(.*?)\s*-->\s*$")
RUN = re.compile(r"^run(?:\s+expect:\s+(\S.*))?$")
SKIP = re.compile(r"^skip\s+\((.*\S.*)\)$")
# Debian's PATH for a login shell of root: what a plain machine offers the user.
PLAIN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Variables of the environment this suite runs in that would leak its Python into a block.
LEAKING = ("PYTHON", "PYENV", "VIRTUAL_ENV", "CONDA", "PYTEST", "COV_")
BLOCK_TIMEOUT = 300  # seconds: a block that hangs must not eat the suite's time in CI


@dataclass(frozen=True)
class Block:
    line: int  # of the opening fence, 1-based
    section: str  # the heading it sits under
    code: str
    marker: str | None  # the marker's text after "readme-test:", None when missing

    @property
    def runs(self) -> bool:
        return self.marker is not None and RUN.match(self.marker) is not None

    @property
    def expect(self) -> list[str]:
        match = RUN.match(self.marker or "")
        return match.group(1).split() if match and match.group(1) else []

    def problem(self) -> str | None:
        """Why this block's marker is missing or malformed, or None when it is fine."""
        if self.marker is None:
            return "no <!-- readme-test: run --> or <!-- readme-test: skip (why) --> before it"
        if not RUN.match(self.marker) and not SKIP.match(self.marker):
            return f"malformed marker {self.marker!r}"
        return None

    @property
    def name(self) -> str:
        slug = re.sub(r"[^a-z0-9]+", "-", self.section.lower()).strip("-")
        return f"line{self.line}-{slug}"


def shell_blocks(text: str) -> list[Block]:
    """The shell blocks of a markdown text, each with the marker line just before it."""
    lines = text.splitlines()
    blocks = []
    section = ""
    index = 0
    while index < len(lines):
        line = lines[index]
        fence = FENCE.match(line)
        if not fence:
            if line.startswith("#"):
                section = line.lstrip("#").strip()
            index += 1
            continue
        indent, opening, language = fence.groups()
        end = index + 1
        while end < len(lines) and not _closes(lines[end], opening):
            end += 1
        if language in SHELL_LANGUAGES:
            body = [text_line.removeprefix(indent) for text_line in lines[index + 1 : end]]
            blocks.append(Block(index + 1, section, "\n".join(body) + "\n", _marker(lines[:index])))
        index = end + 1
    return blocks


def _closes(line: str, opening: str) -> bool:
    stripped = line.strip()
    return stripped.startswith(opening) and set(stripped) == {opening[0]}


def _marker(before: list[str]) -> str | None:
    for line in reversed(before):
        if line.strip():
            match = MARKER.match(line)
            return match.group(1) if match else None
    return None


BLOCKS = shell_blocks(README.read_text(encoding="utf-8"))


def test_every_shell_block_is_marked():
    problems = [f"README.md:{block.line}: {block.problem()}" for block in BLOCKS if block.problem()]
    assert not problems, "\n".join(problems)
    assert BLOCKS and BLOCKS[0].runs, "the README's first shell block (the quick start) must run"


SAMPLE = """\
# Title
<!-- readme-test: run expect: out/_SUCCESS -->
```bash
echo one
```
```json
{"not": "a shell block"}
```
## Second
1. A list item:
   <!-- readme-test: skip (needs a cluster) -->
   ```bash
   echo two
   ```

```sh
echo three
```
<!-- readme-test: sometimes -->
````bash
echo four
````
"""


def test_shell_blocks_and_their_markers_are_found():
    blocks = shell_blocks(SAMPLE)
    assert [(b.line, b.section, b.code) for b in blocks] == [
        (3, "Title", "echo one\n"),
        (12, "Second", "echo two\n"),
        (16, "Second", "echo three\n"),
        (20, "Second", "echo four\n"),
    ]
    assert [b.runs for b in blocks] == [True, False, False, False]
    assert blocks[0].expect == ["out/_SUCCESS"]
    assert [b.problem() for b in blocks[:2]] == [None, None]
    assert "no <!-- readme-test" in blocks[2].problem()
    assert "malformed marker 'sometimes'" in blocks[3].problem()


def plain_environment(clone: Path) -> dict[str, str]:
    """A plain machine's environment, with the clone's .venv activated once it exists."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(LEAKING)}
    env["PATH"] = PLAIN_PATH
    venv = clone / ".venv"
    if (venv / "bin" / "activate").is_file():
        env["VIRTUAL_ENV"] = str(venv)
        env["PATH"] = f"{venv / 'bin'}{os.pathsep}{PLAIN_PATH}"
    return env


def stop_group(group: int) -> None:
    """Stop what a block left running in its process group: SIGTERM, then SIGKILL."""
    for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(group, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                os.killpg(group, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)


class ReadmeRun:
    """The runnable blocks run once each, in README order, in one clone."""

    def __init__(self, clone: Path, log_dir: Path):
        self.clone = clone
        self.log_dir = log_dir
        self.failed: dict[int, str] = {}  # line of a block -> why it failed
        self.done: set[int] = set()

    def run_through(self, block: Block) -> None:
        """Run every runnable block up to this one (once each); fail if this one failed."""
        for earlier in [b for b in BLOCKS if b.runs and b.line <= block.line]:
            if earlier.line not in self.done:
                self.done.add(earlier.line)
                failure = self._run(earlier)
                if failure:
                    self.failed[earlier.line] = failure
        if block.line in self.failed:
            before = sorted(line for line in self.failed if line < block.line)
            note = f"\n(a block before it failed too: README.md:{before[0]})" if before else ""
            pytest.fail(self.failed[block.line] + note, pytrace=False)

    def _run(self, block: Block) -> str | None:
        log = self.log_dir / f"{block.name}.log"
        start = time.monotonic()
        with open(log, "wb") as out:
            # A new session: the block's background processes form its own process group.
            process = subprocess.Popen(
                ["bash", "-e", "-c", block.code],
                cwd=self.clone,
                env=plain_environment(self.clone),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            try:
                code = process.wait(timeout=BLOCK_TIMEOUT)
            except subprocess.TimeoutExpired:
                code = None
            finally:
                stop_group(process.pid)
                process.wait()
        elapsed = time.monotonic() - start
        output = log.read_text(errors="replace")[-6000:]
        where = f"README.md:{block.line} ({block.section}), after {elapsed:.0f} s"
        if code is None:
            return f"{where}: still running after {BLOCK_TIMEOUT} s\n{block.code}\n{output}"
        if code != 0:
            return f"{where}: exit status {code}\n{block.code}\n{output}"
        missing = [path for path in block.expect if not (self.clone / path).exists()]
        if missing:
            return f"{where}: missing {', '.join(missing)}\n{block.code}\n{output}"
        return None


@pytest.fixture(scope="module")
def readme_run(tmp_path_factory):
    """One fresh clone of the committed HEAD for all runnable blocks, removed at the end."""
    base = tmp_path_factory.mktemp("readme")
    clone = base / "streamjobs"
    head = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    subprocess.run(["git", "-C", str(clone), "checkout", "-q", "--detach", head], check=True)
    if (clone / "README.md").read_bytes() != README.read_bytes():
        pytest.fail("README.md differs from HEAD: these blocks run in a clone; commit it first")
    try:
        yield ReadmeRun(clone, base)
    finally:
        shutil.rmtree(clone, ignore_errors=True)


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.runs], ids=lambda b: b.name)
def test_readme_block_runs(readme_run, block):
    readme_run.run_through(block)
