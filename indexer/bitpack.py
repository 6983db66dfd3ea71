"""Blocked bit-packing: a sequence of unsigned integers in as few bits as each block of them needs.

A sequence of n values is cut into blocks of BLOCK; each block is stored in the bit width of its
largest value (0 to MAX_WIDTH bits). Layout: the widths of the ceil(n / BLOCK) blocks, a byte each,
then the blocks' values one after another, little-endian bit order, each block starting on a byte
(a full block is 4 × its width bytes). The count is not stored: the caller knows it (a term's
document frequency, a bigram's number of offsets), and a sequence's length in bytes follows from the
count and the widths, so sequences of one term follow one another with nothing between them.

Against the whole-byte widths (u8/u16/u32, zlib when it paid) the postings used before, on one
segment of 10,000 documents of the synthetic archive: bigram positions 9.7 -> 7.0 MB, n-gram document
gaps 7.2 -> 6.5 MB (with each term's document frequency, which the old format kept apart), jieba
words' documents and frequencies 3.7 -> 3.3 MB (in blocks of 128; of 32, below, 3% less again). One
width for a whole sequence instead of one per block took 5-14% more; zlib over that won 2% on
documents and lost 2% on positions, and was left out (decoding is numpy alone).

Up to SMALL values are packed and unpacked with Python ints, a block at a time: most terms hold a
few documents, and numpy's cost per call would be most of the time.
"""

from __future__ import annotations

import numpy as np

# Blocks of 32: every entry of one segment of 10,000 synthetic documents took 16.2 MB, 16.5 in blocks
# of 64, 16.8 of 128, 17.1 of 256 and 18.5 with one width for a whole sequence.
BLOCK = 32
MAX_WIDTH = 57          # a value is read as the 8 bytes from its first byte, shifted by up to 7 bits
SMALL = 4 * BLOCK       # up to this many values: Python ints, 2-10 us where numpy took 15-30
_POWERS = np.left_shift(np.uint64(1), np.arange(64, dtype=np.uint64))     # 2**k: bit lengths by searchsorted
_MASKS = _POWERS[:MAX_WIDTH + 1] - np.uint64(1)                              # by width: its low bits set
_IN_BLOCK = np.arange(MAX_WIDTH + 1, dtype=np.uint64)[:, None] * np.arange(BLOCK, dtype=np.uint64)  # by width: each value's first bit
_PADDING = bytes(BLOCK * MAX_WIDTH // 8 + 8)      # read past the last block's values as if it were full
_THREE, _SEVEN = np.uint64(3), np.uint64(7)


def pack(values) -> bytes:
    """The packed bytes of a sequence of unsigned integers (a list, an array: anything numpy takes)."""
    count = len(values)
    if count == 0:
        return b""
    if count <= SMALL:
        return _pack_small(values if isinstance(values, list) else [int(v) for v in values])
    values = np.asarray(values)
    if values.dtype.kind == "i" and values.min() < 0:
        raise ValueError("bit-packing takes unsigned integers")
    values = values.astype(np.uint64)
    widths = np.searchsorted(_POWERS, np.maximum.reduceat(values, np.arange(0, count, BLOCK)), side="right")
    if widths.max() > MAX_WIDTH:
        raise ValueError(f"bit-packing takes unsigned integers of up to {MAX_WIDTH} bits")
    widths, lengths, starts = _layout_of(widths, count)
    total = int(starts[-1] + (lengths[-1] * widths[-1] + 7) // 8)
    bits = _bit_offsets(widths, lengths, starts, count)
    word, shift = bits >> 6, (bits & 63).astype(np.uint64)
    words = np.zeros(total // 8 + 2, dtype="<u8")
    # The values' bit ranges do not overlap: OR-ing the ones sharing a word is their sum, and at most
    # one value spills over into each next word.
    firsts = np.flatnonzero(np.diff(word, prepend=-1))
    words[word[firsts]] = np.bitwise_or.reduceat(values << shift, firsts)
    spill = np.flatnonzero(shift + np.repeat(widths, lengths).astype(np.uint64) > 64)
    words[word[spill] + 1] |= values[spill] >> (np.uint64(64) - shift[spill])
    return widths.astype(np.uint8).tobytes() + words.view(np.uint8)[:total].tobytes()


def unpack(buffer, offset: int, count: int) -> tuple[np.ndarray, int]:
    """The `count` values packed at `offset` in `buffer` as an int64 array, and where they end;
    IndexError when they do not fit in the buffer or a width is not one `pack` writes (damage)."""
    if count <= SMALL:
        values, end = unpack_list(buffer, offset, count)
        return np.array(values, dtype=np.int64), end
    blocks = -(-count // BLOCK)
    if offset + blocks > len(buffer):
        raise IndexError(f"{count} packed values do not fit in {len(buffer) - offset} bytes")
    widths = np.frombuffer(buffer, dtype=np.uint8, count=blocks, offset=offset)
    # Every block but the last is full (BLOCK / 8 × its width bytes): a block's first bit follows from
    # the widths before it. The last block is read as if full too, from padding, and cut to `count`.
    first_bits = np.cumsum(widths, dtype=np.uint64)
    last_width = int(widths[-1])
    body = offset + blocks
    end = body + (int(first_bits[-1]) - last_width) * (BLOCK // 8) + ((count - BLOCK * (blocks - 1)) * last_width + 7) // 8
    if end > len(buffer) or last_width > MAX_WIDTH:
        raise IndexError(f"{count} packed values do not fit in {len(buffer) - offset} bytes")
    first_bits -= widths
    first_bits *= np.uint64(BLOCK)
    try:        # a width over MAX_WIDTH is out of the tables' bounds: damage, an IndexError too
        bits, masks = _IN_BLOCK[widths], _MASKS[widths]
    except IndexError:
        raise IndexError(f"a block of packed values is {int(widths.max())} bits wide") from None
    bits += first_bits[:, None]
    padded = b"".join((memoryview(buffer)[body:end], _PADDING))
    # Every byte as the start of a little-endian u64 (strides of one byte): one gather reads any value.
    at_byte = np.ndarray(shape=(len(padded) - 7,), dtype="<u8", buffer=padded, strides=(1,))
    values = at_byte[bits >> _THREE]
    values >>= bits & _SEVEN
    values &= masks[:, None]
    return values.ravel()[:count].view(np.int64), end


def unpack_list(buffer, offset: int, count: int) -> tuple[list[int], int]:
    """unpack's values as a list of ints (Python ints throughout up to SMALL values)."""
    if count > SMALL:
        values, end = unpack(buffer, offset, count)
        return values.tolist(), end
    blocks = -(-count // BLOCK)
    end = offset + blocks
    if end > len(buffer):
        raise IndexError(f"{count} packed values do not fit in {len(buffer) - offset} bytes")
    values: list[int] = []
    for block in range(blocks):
        width, length = buffer[offset + block], min(BLOCK, count - block * BLOCK)
        start, end = end, end + (length * width + 7) // 8
        if width > MAX_WIDTH or end > len(buffer):
            raise IndexError(f"{count} packed values do not fit in {len(buffer) - offset} bytes")
        if not width:       # every value 0 (a block of frequencies or counts of one)
            values += [0] * length
            continue
        whole, mask = int.from_bytes(buffer[start:end], "little"), (1 << width) - 1
        values.extend((whole >> (i * width)) & mask for i in range(length))
    return values, end


def end_of(buffer, offset: int, count: int) -> int:
    """Where the `count` values packed at `offset` end, without unpacking them (IndexError past the buffer)."""
    blocks = -(-count // BLOCK)
    if offset + blocks > len(buffer):
        raise IndexError(f"{count} packed values do not fit in {len(buffer) - offset} bytes")
    if count <= SMALL:
        end = offset + blocks
        for block in range(blocks):
            end += (min(BLOCK, count - block * BLOCK) * buffer[offset + block] + 7) // 8
    else:
        widths, lengths, starts = _layout_of(np.frombuffer(buffer, dtype=np.uint8, count=blocks, offset=offset), count)
        end = offset + blocks + int(starts[-1] + (lengths[-1] * widths[-1] + 7) // 8)
    if end > len(buffer):
        raise IndexError(f"{count} packed values do not fit in {len(buffer) - offset} bytes")
    return end


def _pack_small(values: list[int]) -> bytes:
    if len(values) <= BLOCK:        # most terms: one block, no joining
        width, body = _pack_block(values)
        return bytes((width,)) + body
    blocks = [_pack_block(values[start:start + BLOCK]) for start in range(0, len(values), BLOCK)]
    return bytes(width for width, _ in blocks) + b"".join(body for _, body in blocks)


def _pack_block(block: list[int]) -> tuple[int, bytes]:
    """One block's width and bits, as a Python int's bytes."""
    width = max(block).bit_length()
    if width > MAX_WIDTH or min(block) < 0:
        raise ValueError(f"bit-packing takes unsigned integers of up to {MAX_WIDTH} bits")
    whole = 0
    for i, value in enumerate(block):
        whole |= value << (i * width)
    return width, whole.to_bytes((len(block) * width + 7) // 8, "little")


def _layout_of(widths: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per block: its width (int64), its number of values and the byte where it starts in the body."""
    widths = widths.astype(np.int64)
    lengths = np.full(len(widths), BLOCK, dtype=np.int64)
    lengths[-1] = count - BLOCK * (len(widths) - 1)
    sizes = (lengths * widths + 7) // 8
    return widths, lengths, np.cumsum(sizes) - sizes


def _bit_offsets(widths: np.ndarray, lengths: np.ndarray, starts: np.ndarray, count: int) -> np.ndarray:
    """Where each value starts, in bits from the body's first byte."""
    # Value i of block b starts at 8 × starts[b] + (i - BLOCK × b) × widths[b].
    firsts = np.arange(0, count, BLOCK, dtype=np.int64)
    return np.repeat(8 * starts - firsts * widths, lengths) + np.arange(count, dtype=np.int64) * np.repeat(widths, lengths)
