"""minicnn/malloc.py: glibc keeps freed memory, so a step's arrays are not faulted in again."""
import os
import subprocess
import sys

import pytest

from minicnn.runtime import malloc

# One "step": allocate and touch eight 2 MiB arrays, then free them all, as a
# training step does with its activations. Print the page faults of steps 2-20
# (resource.getrusage counts minor faults: pages the kernel had to map).
_STEPS = """
import resource, sys, numpy
if sys.argv[1] == "retain":
    from minicnn.runtime.malloc import retain_freed_memory
    assert retain_freed_memory()
def step():
    arrays = [numpy.ones(1 << 19, dtype=numpy.float32) for _ in range(8)]
    del arrays
step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(19):
    step()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


@pytest.mark.skipif(malloc._glibc() is None, reason="the C library is not glibc")
def test_freed_pages_are_reused_instead_of_faulted_in_again():
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}

    def faults(mode):
        out = subprocess.run([sys.executable, "-c", _STEPS, mode], env=env,
                             capture_output=True, text=True, check=True)
        return int(out.stdout)

    pages = (16 << 20) // os.sysconf("SC_PAGE_SIZE")  # one step's arrays
    assert faults("default") > 10 * pages  # glibc returns them and maps them again
    assert faults("retain") < pages        # the heap keeps them: no new pages


def test_elsewhere_than_glibc_nothing_changes(monkeypatch):
    monkeypatch.setattr(malloc, "_glibc", lambda: None)
    assert malloc.retain_freed_memory() is False
