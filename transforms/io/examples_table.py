"""Read the training-example tables that ``build-examples`` writes (``EX/shelf=S/*.parquet``)."""
from __future__ import annotations

import pandas as pd
import pyarrow.parquet as pq

from transforms.io import storage
from transforms.errors import InputError
from transforms.features.feature_spec import feature_names, spec_fingerprint


def read_examples(examples_dir: str, shelf: str, date_from: str | None = None, date_to: str | None = None
                  ) -> pd.DataFrame:
    """All examples of ``shelf`` under ``examples_dir`` (local or gs://), sorted by
    (as_of, listener_id, item_id). Columns: listener_id, as_of (datetime64[ns, UTC]), item_id,
    candidate_source, the spec's features (float32), label (int8).

    ``date_from`` / ``date_to`` (YYYY-MM-DD, inclusive) keep only those as_of dates.
    Raises InputError naming the folder when there are no files (or no rows in the date range),
    when ``summary.json`` records another feature spec fingerprint than this code's (the same
    columns can hold different definitions, e.g. after a revision), or naming the file and column
    when a spec column is missing (examples of another feature spec).
    """
    files = storage.glob(storage.join(examples_dir, f"shelf={shelf}", "*.parquet"))
    if not files:
        raise InputError(f"no examples for shelf {shelf!r} under {examples_dir} (expected shelf={shelf}/*.parquet; "
                         f"run `home-recs build-examples` first)")
    built = read_summary(examples_dir).get("shelves", {}).get(shelf, {}).get("feature_spec_fingerprint")
    if built is not None and built != spec_fingerprint(shelf):
        raise InputError(f"{examples_dir}: the {shelf} examples were built with feature spec {built}, this code's "
                         f"(and its models') is {spec_fingerprint(shelf)}: rebuild them with `home-recs build-examples`")
    frames = []
    for path in files:
        try:
            with storage.open_raw(path) as f:
                table = pq.read_table(f)
        except (OSError, ValueError) as err:   # pyarrow's ArrowInvalid is a ValueError
            raise InputError(f"{path}: cannot be read as Parquet ({err}); rebuild the examples with "
                             f"`home-recs build-examples`") from err
        for col in ["listener_id", "as_of", "item_id", "label", *feature_names(shelf)]:
            if col not in table.column_names:
                raise InputError(f"{path}: column {col!r} missing (examples from another feature spec?)")
        frames.append(table.to_pandas())
    frame = pd.concat([f for f in frames if len(f)], ignore_index=True) if any(len(f) for f in frames) else frames[0]
    if date_from:
        frame = frame[frame["as_of"] >= pd.Timestamp(date_from, tz="UTC")]
    if date_to:
        frame = frame[frame["as_of"] <= pd.Timestamp(date_to, tz="UTC")]
    if (date_from or date_to) and frame.empty:
        raise InputError(f"no {shelf} examples under {examples_dir} with as_of in [{date_from}, {date_to}]")
    return frame.sort_values(["as_of", "listener_id", "item_id"], kind="stable").reset_index(drop=True)


def read_summary(examples_dir: str) -> dict:
    """``summary.json`` of an examples folder ({} when absent)."""
    path = storage.join(examples_dir, "summary.json")
    return storage.read_json(path) if storage.exists(path) else {}
