"""Population aggregates on codes (transforms.listeners.aggregates): merges of dictionary-encoded counts, and
popularity and co-listening against a brute-force reference written with plain Python sets."""
from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from tests.conftest import ms
from transforms.listeners.aggregates import Counts, merge_partials, partial_aggregates
from transforms.listeners.catalog import Catalog
from transforms.listeners.history import ListenerState, Profile, event_block


def counts(rows: list[tuple[str, str, int]]) -> Counts:
    """Counts keyed (x, y) with one field n, each part with its own unsorted vocabularies."""
    xs, ys = [r[0] for r in rows], [r[1] for r in rows]
    vx, vy = list(dict.fromkeys(xs))[::-1], list(dict.fromkeys(ys))[::-1]
    return Counts(("x", "y"), ("n",), [np.asarray(vx, dtype=object), np.asarray(vy, dtype=object)],
                  [np.asarray([vx.index(x) for x in xs]), np.asarray([vy.index(y) for y in ys])],
                  np.asarray([[r[2]] for r in rows], dtype=np.int64))


def as_dict(c: Counts) -> dict:
    return {(x, y): n for x, y, n in zip(c.column("x"), c.column("y"), c.column("n"))}


def test_counts_merge_sums_equal_keys_whatever_the_order():
    p = counts([("b", "u", 1), ("a", "v", 2), ("b", "u", 4)])
    q = counts([("a", "v", 10), ("c", "u", 3)])
    one, other = Counts.merge([p, q]), Counts.merge([q, p])
    assert as_dict(one) == {("a", "v"): 12, ("b", "u"): 5, ("c", "u"): 3}
    # sorted vocabularies and rows: the same arrays whichever part comes first
    assert one.to_frame().equals(other.to_frame())
    assert one.column("x").tolist() == ["a", "b", "c"]
    assert len(Counts.merge([Counts.empty(("x", "y"), ("n",))])) == 0


def _listener(lid: str, market: str, plays: list[tuple[str, str]]) -> ListenerState:
    return ListenerState(lid, Profile(0, market), event_block(pd.DataFrame({
        "item_id": [p[0] for p in plays], "item_type": "show", "context_id": None,
        "ts": pd.to_datetime([p[1] for p in plays], utc=True), "ms_played": 1})))


def test_popularity_and_pairs_match_a_brute_force_count(config):
    rng = np.random.default_rng(3)
    shows = [f"s{i:02d}" for i in range(12)]
    cat = Catalog.from_items(pd.DataFrame({"item_id": shows, "item_type": "show"}))
    as_of = ms("2025-02-01")
    cfg = {**config, "colisten": {**config["colisten"], "max_items_per_listener": 4}}
    states, truth = [], {}
    for i in range(30):
        n = int(rng.integers(1, 9))
        # distinct timestamps (minutes apart) so "the 4 most recent" has one answer
        days = rng.choice(60 * 24 * 40, size=n, replace=False)
        plays = [(shows[int(rng.integers(0, 12))], pd.Timestamp("2024-12-25", tz="UTC") + pd.Timedelta(minutes=int(d)))
                 for d in days]
        states.append(_listener(f"L{i}", "SE" if i % 3 else "US", plays))
        truth[f"L{i}"] = ("SE" if i % 3 else "US", plays)
    parts = [partial_aggregates(states[k:k + 7], as_of, {"podcasts": ["show"]}, ["podcasts"], cat, cfg)
             for k in range(0, 30, 7)]
    total = merge_partials(parts[::-1])

    window_start = as_of - int(cfg["popularity"]["window_days"] * 86_400_000)
    want_pop, want_pairs, want_singles = {}, {}, {}
    for market, plays in truth.values():
        before = [(s, t) for s, t in plays if t.value // 10**6 < as_of]
        for s in {s for s, t in before if t.value // 10**6 >= window_start}:
            for group in (market, "*"):
                want_pop[(group, s)] = want_pop.get((group, s), 0) + 1
        last = {}
        for s, t in sorted(before, key=lambda p: p[1]):
            last[s] = t
        chosen = sorted(sorted(last, key=lambda s: last[s], reverse=True)[:4])
        for s in chosen:
            want_singles[s] = want_singles.get(s, 0) + 1
        for a, b in itertools.combinations(chosen, 2):
            want_pairs[(a, b)] = want_pairs.get((a, b), 0) + 1

    pop = total.pop.to_frame()
    got_pop = {(m, e): n for m, e, n in zip(pop["market"], pop["entity"], pop["n_window"]) if not m.startswith("genre:")}
    assert got_pop == want_pop
    pairs = total.pairs.to_frame()
    assert {(a, b): n for a, b, n in zip(pairs["a"], pairs["b"], pairs["n"])} == want_pairs
    singles = total.singles.to_frame()
    assert dict(zip(singles["a"], singles["n"])) == want_singles


def test_spilled_and_combined_partials_sum_to_the_single_merge(tmp_path, config):
    from transforms.io.beam_io import SumPartialsFn, sum_spilled_partials
    from transforms.io.spill import spill_block

    cat = Catalog.from_items(pd.DataFrame({"item_id": ["a", "b", "c"], "item_type": "show"}))
    plays = {"1": ["a", "b"], "2": ["a", "b", "c"], "3": ["c"], "4": ["b", "c"]}
    states = [_listener(lid, "SE", [(s, "2025-01-05") for s in shows]) for lid, shows in plays.items()]
    as_of = ms("2025-01-10")
    parts = [partial_aggregates([st], as_of, {"podcasts": ["show"]}, ["podcasts"], cat, config) for st in states]
    want = merge_partials(parts)
    handles = [spill_block(p, str(tmp_path), 0) for p in parts]
    fn = SumPartialsFn()
    combined = fn.extract_output(fn.merge_accumulators([fn.add_inputs(fn.create_accumulator(), parts[:3]),
                                                        fn.add_input(fn.create_accumulator(), parts[3])]))
    for got in (sum_spilled_partials(handles), combined):
        for table in ("pop", "pairs", "singles"):
            assert getattr(got, table).to_frame().equals(getattr(want, table).to_frame())
    pairs = want.pairs.to_frame()
    assert dict(zip(zip(pairs["a"], pairs["b"]), pairs["n"])) == {("a", "b"): 2, ("a", "c"): 1, ("b", "c"): 2}
