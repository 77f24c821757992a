"""The pre-loaded launcher of `ssh-serve`: imports the application once, then forks one child per session.

Started by the server with one end of a Unix SEQPACKET socket. Each request carries the arguments and
environment of a session plus the pty slave (SCM_RIGHTS); the launcher forks, the child makes the
slave its controlling terminal and runs `cpf_tui.cli.main` without importing anything again. The
launcher reports the child's pid, then its exit code once it has reaped it. It has no threads, so
forking it is safe; the children share its imported modules copy-on-write.

Messages are JSON: request `{"id", "args", "env", "cwd", "limits"}`, replies `{"ready", "missing", "merging", "immortal"}`, `{"id", "pid"}`,
`{"exit": pid, "code": code}`.
"""

from __future__ import annotations

import ctypes
import gc
import importlib
import json
import os
import pkgutil
import resource
import select
import signal
import socket
import sys
import sysconfig
import traceback

PRELOAD = (
    "cpf_tui.cli", "cpf_tui.config", "cpf_tui.app", "cpf_tui.db", "cpf_tui.errors", "cpf_tui.ssh_env",
    "cpf_tui.ssh_cli", "cpf_tui.pg_client", "cpf_tui.textual_internals",
    "textual.app", "textual.widgets", "textual.containers", "textual.screen", "textual.drivers.linux_driver",
    "textual.drivers.headless_driver", "textual.pilot", "textual.scrollbar", "textual.coordinate",
    "textual.document._document", "textual.document._wrapped_document", "textual.document._syntax_aware_document",
    "textual.layouts.factory", "textual.layouts.horizontal", "textual.layouts.stream", "textual.renderables.styled",
    "textual._wrap", "textual._two_way_dict", "textual._text_area_theme", "textual._tree_sitter",
    "textual.widgets._data_table", "textual.widgets._text_area", "textual.widgets._tree",
    "textual.widgets._select", "textual.widgets._option_list", "textual.widgets._input",
    "rich._emoji_codes", "rich._emoji_replace",
    "tortoise", "tortoise.backends.sqlite", "tortoise.backends.asyncpg", "tortoise.contrib.postgres.functions",
    "tortoise.migrations.executor", "tortoise.migrations.loader", "tortoise.migrations.recorder", "asyncpg",
    "tortoise.functions", "argon2", "argon2.low_level", "phonenumbers", "email_validator", "idna", "stdnum.fr.nir", "stdnum.fr.siren", "stdnum.fr.siret",
    "stdnum.fr.tva", "concurrent.futures.thread", "getpass", "configparser", "shlex", "pydoc",
    "models", "screens.login", "screens.home", "screens.modals",
)
"""Modules every session needs, imported once here so that the sessions share them (a module imported
in a session is that session's private memory, and its import costs the session's first screen)."""

PRELOAD_PACKAGES = ("models.migrations", "cpf_tui.services", "screens", "screens.widgets")
"""Packages whose every module is imported too: the screens a session opens, the services they call,
the migrations the schema check reads. Their heavy optional libraries (openpyxl…) stay imported on use."""

PRELOAD_SKIP = ("cpf_tui.services.hash_worker",)
"""Module mains run as their own processes, not in a session."""

PROFILE_ENV = "CPF_TUI_PROFILE_SESSIONS"
"""A folder in the launcher's environment: every session then runs under cProfile and leaves its
statistics there as session-PID.prof when it ends (for measurements; `python -m pstats` reads them)."""

_CHILD_DEFAULT_SIGNALS = (signal.SIGHUP, signal.SIGINT, signal.SIGQUIT, signal.SIGTERM, signal.SIGPIPE,
                          signal.SIGXFSZ, signal.SIGCHLD, signal.SIGWINCH, signal.SIGTSTP, signal.SIGTTIN,
                          signal.SIGTTOU)


def set_process_name(name: str) -> None:
    """The name `ps` and `top` show (15 characters at most)."""
    try:
        with open("/proc/self/comm", "w") as handle:
            handle.write(name)
    except OSError:
        pass


def preload_names() -> list[str]:
    """PRELOAD, then every module of PRELOAD_PACKAGES (found on disk, so a new screen is never forgotten)."""
    names = list(PRELOAD)
    for package_name in PRELOAD_PACKAGES:
        try:
            package = importlib.import_module(package_name)
        except ImportError:
            names.append(package_name)  # reported missing below
            continue
        for info in pkgutil.iter_modules(getattr(package, "__path__", []), package_name + "."):
            if info.name not in PRELOAD_SKIP:
                names.append(info.name)
    return names


def warm() -> None:
    """Fill the caches every session fills on its first screens (tables read once, then kept): filled
    here, the sessions share them instead of each building its own copy."""
    from rich._unicode_data import load as load_cell_table

    load_cell_table("latest")  # the table a session's "auto" resolves to, unless UNICODE_VERSION says otherwise
    from cpf_tui.services import validation

    validation.format_phone(validation.validate_phone("06 12 34 56 78"))  # phone metadata of every French region
    validation.national_plan_country_codes()
    validation.validate_email("camille.martin@exemple.fr")  # the address checker and its IDNA tables


def preload() -> tuple[list[str], int]:
    """Import what can be imported, fill the shared caches, make every object so far immortal where the
    interpreter allows it (`immortalize`), then freeze them out of the garbage collector: a collection
    in a session then never writes to the launcher's objects, whose pages stay shared. The collector is
    off meanwhile (see `main`): a collection here would free blocks amid those objects, which every
    session would fill, copying their pages.
    Returns the names that could not be imported (the child imports them itself) and how many objects
    were made immortal."""
    missing = []
    for name in preload_names():
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - a module that cannot load here is reported; sessions still start
            missing.append(name)
    try:
        warm()
    except Exception:  # noqa: BLE001 - a cache not filled here is filled by each session itself
        traceback.print_exc()
    immortal = immortalize()
    gc.freeze()
    offer_pages_for_merging()
    return missing, immortal


IMMORTAL_REFCNT = 0xFFFFFFFF
"""`_Py_IMMORTAL_REFCNT` of CPython 3.12 and 3.13 on 64-bit builds (PEP 683): a reference count that
`Py_INCREF` and `Py_DECREF` leave untouched."""


def immortal_objects_supported() -> bool:
    """True on the interpreters whose immortal objects `immortalize` knows: CPython 3.12 and 3.13, 64-bit,
    little-endian, with the GIL (their object header starts with the reference count, and `None`, immortal
    there, shows the value checked). Anywhere else (3.11 has no immortal objects) nothing is changed."""
    if (sys.implementation.name != "cpython" or sys.version_info[:2] not in ((3, 12), (3, 13))
            or sys.maxsize <= 2**32 or sys.byteorder != "little" or sysconfig.get_config_var("Py_GIL_DISABLED")):
        return False
    return bool(ctypes.c_ssize_t.from_address(id(None)).value == IMMORTAL_REFCNT)


def immortalize() -> int:
    """Make every object the launcher holds immortal (PEP 683); returns how many were made so.

    A session that merely uses an object writes its reference count, which copies the whole page the
    object lies on out of the launcher's memory. An immortal object's count is never written again
    (`Py_INCREF`, `Py_DECREF` test it first), so those pages stay shared: with `bench/load.py` on 3.13,
    a session's PSS after log-in went from ≈ 28.6 to ≈ 22.5 MB (docs/benchmarks.md, « Twelfth pass »).
    The objects are the collector's (every generation) and everything they refer to, strings and numbers included; they are never freed, which the launcher's
    modules, classes, functions and tables never were anyway. This is the pre-fork use PEP 683 names;
    CPython has no public call for it, so the count is written as CPython itself writes it, and only
    where `immortal_objects_supported` says how. The interpreter's finalisation does not expect
    objects made immortal this way: the launcher and its sessions end with `os._exit`."""
    if not immortal_objects_supported():
        return 0
    seen: set[int] = set()
    pending = gc.get_objects()
    pending.append(sys.modules)
    seen.update((id(seen), id(pending)))  # this walk's own containers stay mortal (and are freed)
    count = 0
    while pending:
        obj = pending.pop()
        address = id(obj)
        if address in seen:
            continue
        seen.add(address)
        pending.extend(gc.get_referents(obj))
        refcount = ctypes.c_ssize_t.from_address(address)
        if refcount.value != IMMORTAL_REFCNT:
            refcount.value = IMMORTAL_REFCNT
            count += 1
    return count


MADV_MERGEABLE = 12
KSM_RUN = "/sys/kernel/mm/ksm/run"


def offer_pages_for_merging() -> None:
    """Mark the launcher's own memory (its heap and private anonymous mappings) as mergeable by the
    kernel's same-page merging (KSM).

    Every session copies about 26 MB of these pages by merely running (CPython writes reference counts
    into every object it uses), yet most copies return to the launcher's content once the session's
    work is done, and many are identical from one session to the next. When the administrator turns
    KSM on (`/sys/kernel/mm/ksm/run`, docs/deploy.md), the kernel merges such identical pages again;
    when it is off, the mark costs nothing. The sessions inherit the mark with the mappings (fork); the
    memory they allocate themselves is not marked (their own objects are rarely identical)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        madvise = libc.madvise
        madvise.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
        with open("/proc/self/maps") as maps:
            regions = [line.split() for line in maps]
    except (OSError, AttributeError):  # not Linux, or no /proc: nothing to offer
        return
    for fields in regions:
        anonymous = len(fields) < 6 or fields[5] == "[heap]"
        if fields[1] == "rw-p" and anonymous:
            start, end = (int(bound, 16) for bound in fields[0].split("-"))
            madvise(start, end - start, MADV_MERGEABLE)  # refused (no KSM in the kernel): nothing to do


def merging_state() -> str:
    """What the kernel's same-page merging is doing: "on", "off" or "absent" (no KSM in this kernel)."""
    try:
        with open(KSM_RUN) as handle:
            return "on" if handle.read().strip() == "1" else "off"
    except OSError:
        return "absent"


def run_child(sock: socket.socket, wakeup_read: int, wakeup_write: int, request: dict, slave: int) -> None:
    """In the forked child: the slave becomes the terminal, then the application runs. Never returns."""
    code = 1
    profile_dir = os.environ.get(PROFILE_ENV, "")  # the launcher's environment, before the session's replaces it
    profiler = None
    try:
        sock.close()
        os.close(wakeup_read)
        os.close(wakeup_write)
        os.login_tty(slave)
        for which, soft, hard in request.get("limits", ()):  # RLIMIT_AS, NOFILE, NPROC of the session
            resource.setrlimit(which, (soft, hard))
        set_process_name("cpf-tui-session")
        signal.set_wakeup_fd(-1)
        for signum in _CHILD_DEFAULT_SIGNALS:
            signal.signal(signum, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_SETMASK, [])
        gc.enable()  # off in the launcher; the session's own objects are collected as usual
        os.environ.clear()
        os.environ.update(request["env"])
        if request.get("cwd"):
            os.chdir(request["cwd"])
        sys.argv = ["cpf-tui", *request["args"]]
        from cpf_tui.cli import main

        if profile_dir:
            import cProfile

            profiler = cProfile.Profile()
            code = profiler.runcall(main, list(request["args"]))
        else:
            code = main(list(request["args"]))
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:  # noqa: BLE001 - shown on the session's terminal, then the child ends
        traceback.print_exc()
        code = 1
    finally:
        if profiler is not None:
            try:
                profiler.dump_stats(os.path.join(profile_dir, f"session-{os.getpid()}.prof"))
            except OSError:
                pass
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # noqa: BLE001 - the terminal may already be gone
                pass
        os._exit(code if 0 <= code <= 255 else 1)


def serve(sock: socket.socket) -> None:
    set_process_name("cpf-tui-lanceur")
    wakeup_read, wakeup_write = os.pipe()
    os.set_blocking(wakeup_read, False)
    os.set_blocking(wakeup_write, False)
    signal.set_wakeup_fd(wakeup_write)
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)
    missing, immortal = preload()
    sock.send(json.dumps({"ready": True, "missing": missing, "merging": merging_state(),
                          "immortal": immortal}).encode())

    def reap() -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            sock.send(json.dumps({"exit": pid, "code": os.waitstatus_to_exitcode(status)}).encode())

    while True:
        ready, _, _ = select.select([sock, wakeup_read], [], [])
        if wakeup_read in ready:
            while True:
                try:
                    if not os.read(wakeup_read, 512):
                        break
                except BlockingIOError:
                    break
            reap()
        if sock in ready:
            message, fds, _flags, _address = socket.recv_fds(sock, 1 << 20, 1)
            if not message:  # the server closed its end: nothing more to start
                for fd in fds:
                    os.close(fd)
                return
            request = json.loads(message)
            slave = fds[0]
            previous_mask = signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())
            try:
                pid = os.fork()
                if pid == 0:
                    run_child(sock, wakeup_read, wakeup_write, request, slave)
            except OSError as exc:  # no more processes: this session fails, the launcher stays
                sock.send(json.dumps({"id": request["id"], "error": str(exc)}).encode())
                continue
            finally:
                signal.pthread_sigmask(signal.SIG_SETMASK, previous_mask)
                os.close(slave)
            sock.send(json.dumps({"id": request["id"], "pid": pid}).encode())


def main() -> int:
    gc.disable()  # until the fork: see `preload`
    sock = socket.socket(fileno=int(sys.argv[1]))
    try:
        serve(sock)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server is gone
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # no finalisation: it does not expect the objects `immortalize` made immortal
