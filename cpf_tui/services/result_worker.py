"""Writing a bulk import's result workbook in a child process, beside the importing process's own work.

The result workbook (`result_book.write_result`: one XML row per account, compressed) is Python work
of about 20 µs a row; in a thread of the importing process it takes turns with the import for the
interpreter. A child process writes it on the other core while the import goes on.

`python -m cpf_tui.services.result_worker PATH` reads frames on its standard input: a 4-byte
big-endian length, then a `marshal` value. The first frame is the workbook's title, the following
ones lists of result rows (lists of texts and integers), and an empty list ends the rows: the
workbook is then written to PATH (a private file, through a temporary name) and the child answers
`ok` on its standard output, or `error <errno> <message>` when the file could not be written. If its
input ends before the empty list (the import failed, or its process was killed), nothing is written.
"""

from __future__ import annotations

import marshal
import struct
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the child process does without asyncio: its start takes processor time from the import
    import asyncio

_LENGTH = struct.Struct(">I")
MIN_ROWS = 2000
"""Below this many rows, starting a process costs more than it saves: a thread writes the workbook."""
STOP_SECONDS = 10.0


class _Ended(Exception):
    """The input ended before the last row: nothing is written."""


def _frames(stream: Any) -> Iterator[Any]:
    while True:
        head = stream.read(_LENGTH.size)
        if len(head) < _LENGTH.size:
            raise _Ended
        (size,) = _LENGTH.unpack(head)
        body = stream.read(size)
        if len(body) < size:
            raise _Ended
        yield marshal.loads(body)


def main(argv: list[str]) -> int:
    from cpf_tui.services.result_book import write_result

    frames = _frames(sys.stdin.buffer)

    def rows() -> Iterator[list[Any]]:
        for chunk in frames:
            if not chunk:
                return
            yield from chunk

    try:
        title = next(frames)
        write_result(Path(argv[0]), title, rows())
    except _Ended:
        return 1
    except OSError as exc:
        sys.stdout.write(f"error {exc.errno or 0} {exc.strerror or exc}\n")
        return 1
    sys.stdout.write("ok\n")
    return 0


def frame(value: Any) -> bytes:
    """One frame of the child's input."""
    body = marshal.dumps(value)
    return _LENGTH.pack(len(body)) + body


class ResultProcess:
    """The parent's side: `start()` launches the child (False when no process can be started),
    `add(rows)` sends rows, `finish()` waits for the file (OSError when the child could not write
    it), `stop()` kills and reaps the child (nothing written)."""

    def __init__(self, path: Path, title: str) -> None:
        self.path, self.title = path, title
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> bool:
        import asyncio

        try:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "cpf_tui.services.result_worker", str(self.path),
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
            )
        except OSError:
            return False
        await self._send(self.title)
        return True

    async def _send(self, value: Any) -> None:
        assert self.process is not None and self.process.stdin is not None
        self.process.stdin.write(frame(value))
        await self.process.stdin.drain()

    async def add(self, rows: list[list[Any]]) -> None:
        if rows:
            await self._send(rows)

    async def finish(self) -> None:
        process = self.process
        assert process is not None and process.stdin is not None and process.stdout is not None
        await self._send([])
        process.stdin.close()
        answer = (await process.stdout.read()).decode("utf-8", "replace").strip()
        await process.wait()
        if answer.startswith("error "):
            _, number, message = (answer.split(" ", 2) + [""])[:3]
            raise OSError(int(number) if number.isdigit() else 0, message)
        if process.returncode != 0 or answer != "ok":
            raise RuntimeError(f"result workbook writer failed (exit {process.returncode})")

    async def stop(self) -> None:
        """End the child: its input closed before the last row, it writes nothing and exits (killed
        after `STOP_SECONDS`); reaped."""
        if self.process is not None:
            await end_child(self.process, STOP_SECONDS)


async def end_child(process: asyncio.subprocess.Process, seconds: float) -> None:
    """End a child of the import: its input closed, it may end by itself for `seconds`, then it is
    killed; reaped in every case (also when the caller is cancelled meanwhile)."""
    import asyncio

    if process.stdin is not None and not process.stdin.is_closing():
        process.stdin.close()
    try:
        await asyncio.wait_for(asyncio.shield(process.wait()), seconds)
    except (asyncio.TimeoutError, asyncio.CancelledError):
        if process.returncode is None:
            try:
                process.kill()
            except ProcessLookupError:
                pass
        await process.wait()


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
