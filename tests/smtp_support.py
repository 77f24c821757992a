"""A real SMTP server on loopback (aiosmtpd) for tests that start `cpf-tui mail send` processes."""

from __future__ import annotations

import asyncio
import email
import socket
import threading
from email import policy

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Recorder:
    """aiosmtpd handler keeping every accepted message. With `stall_first`, the first message is held
    (`stalled` is set) until `release` is set or 60 s pass, then refused with a temporary error, so a
    test can kill its sender in the middle of a delivery."""

    def __init__(self, *, stall_first: bool = False, hold_until_sessions: int = 0) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.stall_first = stall_first
        self.stalled = threading.Event()
        self.release = threading.Event()
        self.hold_until_sessions = hold_until_sessions
        """Accept no message before this many SMTP sessions have sent one (or 60 s pass): senders overlap."""
        self.sessions: set[int] = set()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd hook name
        self.sessions.add(id(session))
        for _ in range(3000):
            if len(self.sessions) >= self.hold_until_sessions:
                break
            await asyncio.sleep(0.02)
        if self.stall_first and not self.stalled.is_set():
            self.stalled.set()
            for _ in range(3000):
                if self.release.is_set():
                    break
                await asyncio.sleep(0.02)
            return "451 Réessayez plus tard"
        self.messages.append(email.message_from_bytes(envelope.content, policy=policy.default))
        return "250 Message accepted"


class SmtpServer:
    """An aiosmtpd Controller (its own thread) started and stopped around a test."""

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        self.controller = Controller(recorder, hostname="127.0.0.1", port=free_port())

    @property
    def port(self) -> int:
        return self.controller.port

    def __enter__(self) -> SmtpServer:
        self.controller.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.recorder.release.set()
        self.controller.stop()
