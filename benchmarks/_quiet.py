"""Waiting for a quiet machine before a timed call.

On a shared machine another process may hold a core for seconds at a time.
A parallel region whose second thread waits for that core takes up to a
scheduler time slice per barrier, so one busy moment can make a 2-thread
figure ten times worse. wait_idle() polls /proc/stat and returns once the
cores have been idle for a short window (or after `timeout` seconds, saying
so), so that the figures compare the libraries rather than the neighbours.
"""

import os
import sys
import time


def _cpu_times():
    with open("/proc/stat") as f:
        fields = f.readline().split()[1:]
    values = [int(v) for v in fields]
    idle = values[3] + values[4]  # idle + iowait
    return idle, sum(values)


def wait_idle(min_idle=0.9, window=0.25, timeout=20.0):
    """Block until the whole machine was at least min_idle idle over a
    window; returns False (and prints a note) when timeout passed first.
    Returns at once when DAGNET_BENCH_BUSY is set: a benchmark that keeps
    the machine busy on purpose (contention.py) measures it as it is."""
    if os.environ.get("DAGNET_BENCH_BUSY"):
        return True
    if not os.path.exists("/proc/stat"):
        time.sleep(0.3)
        return True
    t0 = time.monotonic()
    while True:
        i0, s0 = _cpu_times()
        time.sleep(window)
        i1, s1 = _cpu_times()
        if s1 > s0 and (i1 - i0) / (s1 - s0) >= min_idle:
            return True
        if time.monotonic() - t0 > timeout:
            print(f"  (the machine stayed busy for {timeout:.0f} s; measuring anyway)",
                  file=sys.stderr)
            return False
