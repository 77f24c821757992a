"""Hashing temporary passwords in a child process, beside the importing process's own work.

A bulk import hashes thousands of temporary passwords (`passwords.hash_temporary`). In threads of the
importing process, hashing only goes fast while the event loop waits: any Python work alongside makes
each thread queue for the interpreter after every hash. A child process hashes on another core while
the import writes its audit events and builds its rows.

`python -m cpf_tui.services.hash_worker` reads passwords, one per line, on its standard input until
end of file, and writes their hashes, one per line and in the same order, flushed every `SLICE`
passwords. Nothing is stored: the child ends when its input is done or its parent closes the pipe.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

SLICE = 250
"""Passwords hashed per task in the child, and hashes written per flush."""
THREADS = 2
"""Threads hashing in the child (argon2-cffi releases the interpreter while hashing)."""
MIN_PASSWORDS = 200
"""Below this many passwords, starting a process costs more than it saves: threads hash them."""


def _hash_slice(passwords_slice: list[str]) -> str:
    from cpf_tui.services.passwords import hash_temporary

    return "".join(hash_temporary(password) + "\n" for password in passwords_slice)


def main() -> int:
    lines = sys.stdin.buffer.read().decode("utf-8").splitlines()
    out = sys.stdout
    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        for text in pool.map(_hash_slice, [lines[i : i + SLICE] for i in range(0, len(lines), SLICE)]):
            out.write(text)
            out.flush()
    return 0


class HashJob:
    """The hashes of `plain_passwords`, computed by a child process (see the module's docstring).

    `start()` launches it; `hashes()` waits for them, in order; `progress(done, total)` is called once
    per password as its hash arrives. `close()` ends the child (killed if still running) and reaps it.
    When no process can be started (resource limits) or for a few passwords, threads of this process
    hash them instead when `hashes()` is awaited.
    """

    def __init__(
        self,
        plain_passwords: list[str],
        progress: Callable[[int, int], None] | None,
        fallback: Callable[[list[str], Callable[[int, int], None] | None], Any],
    ) -> None:
        self.plain_passwords = plain_passwords
        self.progress = progress
        self.fallback = fallback
        self.process: asyncio.subprocess.Process | None = None
        self.reader: asyncio.Task[list[str]] | None = None

    async def start(self) -> HashJob:
        if len(self.plain_passwords) < MIN_PASSWORDS:
            return self
        try:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "cpf_tui.services.hash_worker",
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
            )
        except OSError:
            return self
        self.reader = asyncio.ensure_future(self._exchange())
        return self

    async def _exchange(self) -> list[str]:
        process = self.process
        assert process is not None and process.stdin is not None and process.stdout is not None
        total = len(self.plain_passwords)
        process.stdin.write("".join(password + "\n" for password in self.plain_passwords).encode("utf-8"))
        await process.stdin.drain()
        process.stdin.close()
        hashes: list[str] = []
        pending = b""
        while True:
            chunk = await process.stdout.read(1 << 16)
            if not chunk:
                break
            *complete, pending = (pending + chunk).split(b"\n")
            start = len(hashes)
            hashes.extend(line.decode("ascii") for line in complete)
            if self.progress is not None:
                for done in range(start + 1, len(hashes) + 1):
                    self.progress(done, total)
        await process.wait()
        if process.returncode != 0 or pending or len(hashes) != total:
            raise RuntimeError(f"hash worker failed (exit {process.returncode}, {len(hashes)} of {total} hashes)")
        return hashes

    async def hashes(self) -> list[str]:
        if self.reader is None:
            return list(await self.fallback(self.plain_passwords, self.progress))
        return await self.reader

    async def close(self) -> None:
        if self.reader is not None and not self.reader.done():
            self.reader.cancel()
        if self.process is not None and self.process.returncode is None:
            try:
                self.process.kill()
            except ProcessLookupError:
                pass
            await self.process.wait()


if __name__ == "__main__":
    raise SystemExit(main())
