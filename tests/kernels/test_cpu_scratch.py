"""The kernels' reusable scratch buffers (kernels/cpu/_scratch.py)."""
import threading

import numpy
import pytest

import minicnn

pytest.importorskip("numba")
from minicnn.kernels.cpu import _scratch  # noqa: E402  (the package needs numba)


@pytest.fixture(autouse=True)
def _fresh_buffers():
    _scratch.release()
    yield
    _scratch.release()


def test_a_slot_hands_back_the_same_memory_and_slots_do_not_share():
    a = _scratch.scratch("cols", 100, numpy.float32)
    assert a.shape == (100,) and a.dtype == numpy.float32
    b = _scratch.scratch("cols", 40, numpy.float64)   # 320 of its 400 bytes, reused
    assert numpy.shares_memory(a, b)
    c = _scratch.scratch("gcols", 100, numpy.float32)
    assert not numpy.shares_memory(a, c)


def test_a_larger_request_gets_a_larger_buffer():
    a = _scratch.scratch("cols", 10, numpy.float32)
    b = _scratch.scratch("cols", 1000, numpy.float32)
    b[:] = 1.0  # the whole view is writable memory
    assert b.size == 1000 and not numpy.shares_memory(a, b)


def test_nothing_above_the_workspace_is_kept_and_lowering_it_frees_buffers():
    old = minicnn.get_workspace()
    try:
        minicnn.set_workspace(4096)
        big = _scratch.scratch("cols", 2048, numpy.float32)      # 8 KiB > 4 KiB
        assert not numpy.shares_memory(big, _scratch.scratch("cols", 2048, numpy.float32))
        minicnn.set_workspace(1 << 20)
        kept = _scratch.scratch("cols", 2048, numpy.float32)
        assert numpy.shares_memory(kept, _scratch.scratch("cols", 2048, numpy.float32))
        minicnn.set_workspace(4096)
        _scratch.scratch("rows", 1, numpy.float32)               # any call drops what is over
        assert "cols" not in _scratch._buffers()
    finally:
        minicnn.set_workspace(old)


def test_each_thread_has_its_own_buffers():
    mine = _scratch.scratch("cols", 100, numpy.float32)
    theirs = []
    t = threading.Thread(target=lambda: theirs.append(_scratch.scratch("cols", 100,
                                                                       numpy.float32)))
    t.start()
    t.join()
    assert not numpy.shares_memory(mine, theirs[0])
