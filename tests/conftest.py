import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

from dagnet import _core  # noqa: E402

# Graph runs too small to split use one thread by default; the tests turn
# that off so that their small graphs still go through the parallel paths
# (tests/test_threads.py checks the trimming itself).
_core.set_thread_trim(False)
