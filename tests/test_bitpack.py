"""Blocked bit-packing (indexer.bitpack): what is packed is unpacked, by either path, and damage is an IndexError."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given, settings, strategies as st

from indexer import bitpack

# Values of every size a posting holds: small gaps, offsets past 16 bits, gaps past 32 bits, the widest.
VALUE = st.one_of(st.integers(0, 3), st.integers(0, 2**16 + 5), st.integers(2**32 - 3, 2**32 + 3),
                  st.integers(0, 2**bitpack.MAX_WIDTH - 1))
LENGTHS = [0, 1, 2, bitpack.SMALL, bitpack.SMALL + 1, bitpack.BLOCK - 1, bitpack.BLOCK, bitpack.BLOCK + 1,
           3 * bitpack.BLOCK + 7]


def round_trip(values: list[int], before: bytes = b"\x07", after: bytes = b"\x09\x09") -> bytes:
    """Pack, then unpack from a buffer with bytes around the sequence; the packed bytes."""
    packed = bitpack.pack(values)
    buffer = before + packed + after
    array, end = bitpack.unpack(buffer, len(before), len(values))
    listed, list_end = bitpack.unpack_list(buffer, len(before), len(values))
    assert array.dtype == np.int64 and array.tolist() == values and listed == values
    assert end == list_end == bitpack.end_of(buffer, len(before), len(values)) == len(before) + len(packed)
    return packed


@settings(max_examples=300, deadline=None)
@given(values=st.lists(VALUE, max_size=bitpack.SMALL + 3 * bitpack.BLOCK + 10))
@example(values=[])
@example(values=[0])
@example(values=[2**bitpack.MAX_WIDTH - 1])
@example(values=[70_000, 1, 2**32 + 1] * 50)                 # gaps past 16 and 32 bits across blocks
@example(values=[0] * bitpack.BLOCK + [5])                  # a block of width 0, then one of width 3
def test_what_is_packed_is_unpacked(values):
    round_trip(values)


@pytest.mark.parametrize("count", LENGTHS)
@pytest.mark.parametrize("largest", [0, 1, 255, 256, 2**16, 2**32 - 1, 2**32, 2**bitpack.MAX_WIDTH - 1])
def test_every_length_and_width(count, largest):
    values = [(i * 7919) % (largest + 1) for i in range(count)]
    if count:
        values[count // 2] = largest
    packed = round_trip(values)
    blocks = [values[i:i + bitpack.BLOCK] for i in range(0, count, bitpack.BLOCK)]
    assert len(packed) == len(blocks) + sum((len(block) * max(block).bit_length() + 7) // 8 for block in blocks)


def test_each_block_has_its_own_width():
    packed = bitpack.pack([1] * bitpack.BLOCK + [2**20] + [0] * (bitpack.BLOCK - 1))
    assert packed[:2] == bytes([1, 21])
    assert len(packed) == 2 + bitpack.BLOCK // 8 + bitpack.BLOCK * 21 // 8


@settings(max_examples=200, deadline=None)
@given(values=st.lists(VALUE, min_size=1, max_size=bitpack.SMALL))
def test_python_ints_and_numpy_write_the_same_bytes(values):
    """Up to SMALL values are packed with Python ints, more with numpy: one format."""
    small = bitpack.pack(values)
    saved, bitpack.SMALL = bitpack.SMALL, 0
    try:
        assert bitpack.pack(np.array(values, dtype=np.uint64)) == small
        assert bitpack.unpack(small, 0, len(values))[0].tolist() == values
    finally:
        bitpack.SMALL = saved


@pytest.mark.parametrize("values", [[-1], [2**bitpack.MAX_WIDTH], list(range(200)) + [-1],
                                    list(range(200)) + [2**bitpack.MAX_WIDTH]])
@pytest.mark.parametrize("as_array", [False, True])
def test_what_cannot_be_packed_is_refused(values, as_array):
    """A negative value or one wider than MAX_WIDTH bits, by either path (200 values: numpy's)."""
    with pytest.raises(ValueError):
        bitpack.pack(np.array(values, dtype=np.int64) if as_array else values)


@pytest.mark.parametrize("count", [1, bitpack.SMALL, bitpack.SMALL + 1, 2 * bitpack.BLOCK + 3])
def test_damage_is_an_index_error(count):
    packed = bitpack.pack(list(range(1000, 1000 + count)))
    for unpack in (bitpack.unpack, bitpack.unpack_list, bitpack.end_of):
        with pytest.raises(IndexError):
            unpack(packed[:-1], 0, count)                    # cut short
        with pytest.raises(IndexError):
            unpack(packed, 0, count + 10 * bitpack.BLOCK)    # more values than are there
    too_wide = bytes([bitpack.MAX_WIDTH + 1]) + packed[1:] + bytes(64 * count)
    for unpack in (bitpack.unpack, bitpack.unpack_list):
        with pytest.raises(IndexError):
            unpack(too_wide, 0, count)
