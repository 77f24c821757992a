"""Peak memory of the current process, for tests and benchmarks that measure it in a child process."""

from __future__ import annotations

import resource


def peak_rss_mb() -> float:
    """This process's own peak resident memory, in MiB: `VmHWM` of /proc/self/status.

    Not `getrusage().ru_maxrss`: Linux keeps that across `execve`, and a child started by `subprocess`
    (vfork, then exec) starts from the peak of the process that started it — a test's child reported
    the 220 MB of the pytest worker behind it, a bench's child its parent's. `VmHWM` belongs to the
    address space, which `execve` makes new. Elsewhere than Linux: `ru_maxrss`.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
