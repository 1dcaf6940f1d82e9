"""Listener shards built from event blocks: the same columns whatever order the blocks arrive in."""
from __future__ import annotations

import numpy as np
import pandas as pd

from transforms.listeners.history import build_listeners


def _block(rows):
    listener, item, ts, ms, ctx = zip(*rows)
    return {"listener_id": np.array(listener, dtype=object), "item_id": np.array(item, dtype=object),
            "item_type": np.array(["track"] * len(rows), dtype=object), "context_id": np.array(ctx, dtype=object),
            "ts_ms": np.array(ts, dtype=np.int64), "ms_played": np.array(ms, dtype=np.float64)}


def test_events_are_in_one_order_whichever_block_arrives_first():
    # L1 plays t1 twice in the same millisecond (9 s from a playlist, then 3 s alone): a tie on
    # (listener, ts, item) that ms_played and context_id break
    first = _block([("L2", "t2", 50, 1.0, None), ("L1", "t1", 10, 9000.0, "pl")])
    second = _block([("L1", "t1", 10, 3000.0, None), ("L1", "t0", 20, np.nan, None)])
    profiles = pd.DataFrame({"listener_id": ["L1", "L3"], "registered_at": pd.to_datetime(["2020-01-01"] * 2, utc=True),
                             "country": ["SE", None], "_source_file": ["f", "f"], "_row_number": [1, 2]})
    a, rej_a = build_listeners([first, second], profiles, "unknown")
    b, _ = build_listeners([second, first], profiles, "unknown")
    assert a.listener_id.tolist() == ["L1", "L2", "L3"] and a.market.tolist() == ["SE", "unknown", "unknown"]
    assert a.derived.tolist() == [False, True, False] and len(rej_a) == 0
    assert a.who.tolist() == b.who.tolist() == [0, 0, 0, 1]
    for k in ("item_id", "ts_ms", "context_id"):
        assert a.events[k].tolist() == b.events[k].tolist()
    assert a.events["ms_played"].tolist()[:2] == b.events["ms_played"].tolist()[:2] == [3000.0, 9000.0]
    assert a.events["item_id"].tolist() == ["t1", "t1", "t0", "t2"]
    assert a.registered_ms[1] == 50      # L2 has no profile row: registered at its first play


def test_str_order_codes_sort_like_strings_and_tie_equal_strings():
    from transforms.listeners.history import str_order_codes
    values = np.array(["b", "a", "b", "10", "9", 1, "1"], dtype=object)
    # as strings: "1" (twice: the int 1 prints as "1") < "10" < "9" < "a" < "b"
    assert str_order_codes(values).tolist() == [4, 3, 4, 1, 2, 0, 0]
    assert str_order_codes(np.zeros(0, dtype=object)).tolist() == []
