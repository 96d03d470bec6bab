"""Token clips kept on disk between reading a corpus and writing its shards.

prepare.py must know every token before it writes a shard (the split is drawn over all of
them, and a split's shards are consecutive blocks of its tokens), but it need not hold their
audio: a full-size corpus has ~55,000 clips of ~6,000 float32 samples (~1.3 GB), which grows
with the corpus.  :class:`ClipSpool` appends each clip to one anonymous temporary file as soon
as it is sliced (the token keeps only its offset and length) and reads it back when its
record is written.  The file is unlinked from the start (``tempfile.TemporaryFile``), so it
vanishes when closed or when the process dies, killed or not; its pages live in the page cache,
not in the process's memory.
"""

from __future__ import annotations

import tempfile
from typing import Optional

import numpy as np

from corpus.slicing import Token

_DTYPE = np.dtype("<f4")


class ClipSpool:
    """Append-only store of float32 clips in an unlinked temporary file.

        with ClipSpool(dir=...) as spool:
            spool.put(token)            # token.clip -> disk; token.clip = None
            audio = spool.clip(token)   # float32 [token.n_samples], read back

    ``dir``: where the file is made (None: the system's temporary folder, TMPDIR).
    """

    def __init__(self, dir: Optional[str] = None):
        self._file = tempfile.TemporaryFile(prefix="prepare-clips-", dir=dir)
        self._end = 0            # samples written so far
        self._dirty = False

    def put(self, token: Token) -> Token:
        """Move ``token.clip`` to the file; the token keeps (spool_offset, spool_len)."""
        clip = np.ascontiguousarray(token.clip, dtype=_DTYPE)
        self._file.seek(self._end * _DTYPE.itemsize)
        self._file.write(clip.tobytes())
        token.spool_offset, token.spool_len = self._end, int(clip.shape[0])
        token.clip = None
        self._end += int(clip.shape[0])
        self._dirty = True
        return token

    def clip(self, token: Token) -> np.ndarray:
        """The token's clip float32 [n_samples] (its own array when it was never spooled)."""
        if token.clip is not None:
            return token.clip
        if self._dirty:
            self._file.flush()
            self._dirty = False
        self._file.seek(token.spool_offset * _DTYPE.itemsize)
        data = self._file.read(token.spool_len * _DTYPE.itemsize)
        if len(data) != token.spool_len * _DTYPE.itemsize:
            raise OSError(f"clip spool: short read at sample {token.spool_offset}")
        return np.frombuffer(data, dtype=_DTYPE).astype(np.float32, copy=False)

    @property
    def n_bytes(self) -> int:
        return self._end * _DTYPE.itemsize

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> "ClipSpool":
        return self

    def __exit__(self, *exc) -> bool:
        self.close()
        return False
