"""The FMA peak probe the benchmarks share: benchmarks/fma_peak.c (a
register-only loop of independent FMAs on the widest vectors the compiler
targets) built with the system C compiler and run on a given thread count.

A share of the peak means something only beside a peak measured in the same
run on the same machine: the scripts probe at
their start and their end and quote their figures against the higher of the
two (sweep.py, recurrent.py).

    from _peak import FmaPeak
    fma = FmaPeak()
    gflops = fma.measure(1)   # None when it cannot be built or run: fma.why says why
    fma.register              # "zmm", "ymm" or "scalar", after a measure

Only the standard library is imported here (_quiet when measuring)."""

import os
import subprocess
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


class FmaPeak:
    """benchmarks/fma_peak.c compiled once into a temporary directory;
    measure(t) is its GFLOP/s on t threads, or None (with the reason in
    .why) when it cannot be built or run."""

    def __init__(self):
        self.why, self.exe, self.register = None, None, None
        self._dir = tempfile.TemporaryDirectory(prefix="dagnet-fma-")
        exe = os.path.join(self._dir.name, "fma_peak")
        cc = os.environ.get("CC", "cc")
        err = ""
        for flags in (["-O2", "-march=native", "-fopenmp"], ["-O2", "-march=native"]):
            try:
                r = subprocess.run([cc, *flags, os.path.join(HERE, "fma_peak.c"), "-o", exe],
                                   capture_output=True, text=True)
            except OSError as e:
                self.why = f"no C compiler ({cc}: {e.strerror}); set CC"
                return
            if r.returncode == 0:
                self.exe, self.openmp = exe, "-fopenmp" in flags
                return
            err = (r.stderr.strip().splitlines() or [""])[-1]
        self.why = f"{cc} could not build fma_peak.c: {err}"

    def measure(self, threads):
        if self.exe is None:
            return None
        if threads > 1 and not self.openmp:
            self.why = "fma_peak built without OpenMP: 1 thread only"
            return None
        from _quiet import wait_idle
        wait_idle()
        r = subprocess.run([self.exe, str(threads)], capture_output=True, text=True)
        if r.returncode != 0:
            self.why = r.stderr.strip()
            return None
        self.register, gflops = r.stdout.split()
        return float(gflops)


def cpu_info():
    """The CPU's model name and family from /proc/cpuinfo (empty where it
    cannot be read), for the benchmarks' headers."""
    info = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key in ("model name", "cpu family") and key not in info:
                    info[key] = value.strip()
    except OSError:
        pass
    return info
