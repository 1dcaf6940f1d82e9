"""Cheap pickling of string columns between Beam stages.

Beam moves Python objects between stages with pickle. An object array of ids (one ``str`` per
event) pickles and unpickles one object at a time, which cost about a sixth of the daily job's CPU
at 10k listeners. Ids repeat a lot (a listener plays the same items many times), so a column is
sent as int32 codes plus its distinct values (:func:`factorize`) and rebuilt with one
``take`` on arrival. Missing values (None or NaN) come back as ``None``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


def factorize(values) -> tuple[np.ndarray, np.ndarray]:
    """``(codes int64 (n,), distinct object (u,))`` with ``values[i] == distinct[codes[i]]``,
    distinct values in order of first appearance; missing values (None, NaN) get code -1.

    Strings are encoded by Arrow: pandas' string hash table reads C strings, which end at a NUL
    byte, so it gives ``"a\\x00b"`` and ``"a"`` the same code. Other objects use Python hashing."""
    values = np.asarray(values, dtype=object)
    if len(values) and pd.api.types.infer_dtype(values, skipna=True) == "string":
        encoded = pa.array(values, type=pa.string(), from_pandas=True).dictionary_encode()
        codes = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
        return codes, encoded.dictionary.to_numpy(zero_copy_only=False).astype(object)
    codes, distinct = pd.factorize(values, use_na_sentinel=True)
    return codes.astype(np.int64), np.asarray(distinct, dtype=object)


def pack(values: np.ndarray):
    """An array to a picklable compact form: object arrays -> ``("codes", codes int32 (n,),
    uniques object (u,))``; other arrays unchanged. Raises TypeError for unhashable values (lists)."""
    if not isinstance(values, np.ndarray) or values.dtype != object:
        return values
    codes, distinct = factorize(values)
    return ("codes", codes.astype(np.int32), distinct)


def unpack(packed) -> np.ndarray:
    """Inverse of :func:`pack` (missing values become None)."""
    if not (isinstance(packed, tuple) and len(packed) == 3 and packed[0] == "codes"):
        return packed
    _, codes, uniques = packed
    lookup = np.empty(len(uniques) + 1, dtype=object)
    lookup[:-1] = uniques
    lookup[-1] = None   # code -1 (missing) takes the last slot
    return lookup[codes]


def _rebuild_columns(packed: dict) -> "Columns":
    return Columns({k: unpack(v) for k, v in packed.items()})


class Columns(dict):
    """A dict of equal-length column arrays that pickles its object columns as codes."""

    def __reduce__(self):
        return _rebuild_columns, ({k: pack(v) for k, v in self.items()},)
