"""Hashing temporary passwords in a child process, beside the importing process's own work.

A bulk import hashes thousands of temporary passwords (`passwords.hash_temporary`). In threads of the
importing process, hashing only goes fast while the event loop waits: any Python work alongside makes
each thread queue for the interpreter after every hash. A child process hashes on another core while
the import writes its audit events and builds its rows.

`python -m cpf_tui.services.hash_worker` reads passwords, one per line, on its standard input; at each
empty line (the end of a batch) and at the end of its input it hashes those read so far and writes
their hashes, one per line and in the same order, flushed every `SLICE` passwords. Nothing is stored:
the child ends when its input ends (its parent closed the pipe, or was killed).
"""

from __future__ import annotations

import collections
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the child process does without asyncio: its start takes processor time from the import
    import asyncio

SLICE = 250
"""Passwords hashed per task in the child, and hashes written per flush."""
THREADS = 2
"""Threads hashing in the child (argon2-cffi releases the interpreter while hashing)."""
MIN_PASSWORDS = 200
"""Below this many passwords, starting a process costs more than it saves: threads hash them."""


def _hash_slice(passwords_slice: list[str]) -> str:
    from cpf_tui.services.passwords import hash_temporary

    return "".join(hash_temporary(password) + "\n" for password in passwords_slice)


def main(argv: list[str] | None = None) -> int:
    """Hash the passwords of standard input (see the module's doc); `--threads N` hashing threads
    (default `THREADS`)."""
    args = sys.argv[1:] if argv is None else argv
    threads = int(args[1]) if len(args) == 2 and args[0] == "--threads" and args[1].isdigit() else THREADS
    out = sys.stdout
    batch: list[str] = []

    def flush() -> None:
        for text in pool.map(_hash_slice, [batch[i : i + SLICE] for i in range(0, len(batch), SLICE)]):
            out.write(text)
            out.flush()
        batch.clear()

    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        for raw in sys.stdin.buffer:
            line = raw.rstrip(b"\n").decode("utf-8")
            if line:
                batch.append(line)
            else:
                flush()
        flush()
    return 0


class HashStream:
    """Hashes of temporary passwords submitted batch after batch, computed by one child process.

    `start(expected)` launches the child when `expected` passwords (the whole import) make it worth it;
    `submit(batch)` sends a batch (followed by an empty line, which makes the child hash what it has)
    and returns a future of its hashes, in order; the child hashes a batch while the caller works on
    the next one. `close()` ends the child (killed if still running) and reaps it. Without a child (a
    few passwords, or no process could be started: resource limits) `fallback` hashes each batch in
    threads of this process.
    """

    def __init__(self, fallback: Callable[[list[str], Callable[[int, int], None] | None], Any]) -> None:
        self.fallback = fallback
        self.process: asyncio.subprocess.Process | None = None
        self.reader: asyncio.Task[None] | None = None
        self.waiting: collections.deque[tuple[asyncio.Future[list[str]], int, list[str]]] = collections.deque()

    async def start(self, expected: int, *, threads: int = THREADS) -> HashStream:
        import asyncio

        if expected < MIN_PASSWORDS:
            return self
        try:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "cpf_tui.services.hash_worker", "--threads", str(threads),
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
            )
        except OSError:
            return self
        self.reader = asyncio.ensure_future(self._read())
        return self

    async def submit(self, plain_passwords: list[str], *, last: bool = False) -> asyncio.Future[list[str]]:
        """The future hashes of `plain_passwords`; with `last`, the child's input is closed after them."""
        import asyncio

        if self.process is None:
            hashed: asyncio.Future[list[str]] = asyncio.ensure_future(self.fallback(plain_passwords, None))
            return hashed
        process = self.process
        assert process.stdin is not None
        future: asyncio.Future[list[str]] = asyncio.get_running_loop().create_future()
        if not plain_passwords:
            future.set_result([])
            return future
        self.waiting.append((future, len(plain_passwords), []))
        process.stdin.write("".join(password + "\n" for password in plain_passwords).encode("utf-8") + b"\n")
        await process.stdin.drain()
        if last:
            process.stdin.close()
        return future

    def end_input(self) -> None:
        """No more batches: the child hashes those sent, then ends (and is reaped by the reader)."""
        if self.process is not None and self.process.stdin is not None and not self.process.stdin.is_closing():
            self.process.stdin.close()

    async def _read(self) -> None:
        import asyncio

        process = self.process
        assert process is not None and process.stdout is not None
        pending = b""
        try:
            while True:
                chunk = await process.stdout.read(1 << 16)
                if not chunk:
                    break
                *complete, pending = (pending + chunk).split(b"\n")
                for line in complete:
                    if not self.waiting:
                        raise RuntimeError("hash worker wrote a hash nobody asked for")
                    future, count, hashes = self.waiting[0]
                    hashes.append(line.decode("ascii"))
                    if len(hashes) == count:
                        self.waiting.popleft()
                        if not future.done():
                            future.set_result(hashes)
            await process.wait()
            if process.returncode != 0 or pending or self.waiting:
                missing = sum(count - len(hashes) for _future, count, hashes in self.waiting)
                raise RuntimeError(f"hash worker failed (exit {process.returncode}, {missing} hash(es) missing)")
        except BaseException as exc:
            for future, _count, _hashes in self.waiting:
                if not future.done():
                    if isinstance(exc, asyncio.CancelledError):
                        future.cancel()
                    else:
                        future.set_exception(exc)
            self.waiting.clear()
            raise

    async def close(self) -> None:
        if self.reader is not None:
            if not self.reader.done():
                self.reader.cancel()
            elif not self.reader.cancelled():
                self.reader.exception()  # retrieved: the futures of the batches carry it
        if self.process is not None and self.process.returncode is None:
            try:
                self.process.kill()
            except ProcessLookupError:
                pass
            await self.process.wait()
        for future, _count, _hashes in self.waiting:
            future.cancel()
        self.waiting.clear()


if __name__ == "__main__":
    raise SystemExit(main())
