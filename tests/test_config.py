"""Loading the config: unknown keys are refused with their dotted path and the closest valid name."""
from __future__ import annotations

import pytest

from transforms.config import load_config
from transforms.errors import InputError


@pytest.mark.parametrize("text, message", [
    ("gate:\n  tresholds: {shortcuts: 0.2}\n", "`gate.tresholds`: unknown key; did you mean `thresholds`?"),
    ("shelves:\n  podcasts:\n    sise: 3\n", "`shelves.podcasts.sise`: unknown key; did you mean `size`?"),
    ("drift:\n  fail_on_alrt: false\n", "`drift.fail_on_alrt`: unknown key; did you mean `fail_on_alert`?"),
    ("shelvs:\n  a: {}\n", "`shelvs`: unknown key; did you mean `shelves`?"),
    ("ranker:\n  shelves:\n    playlists: {max_dept: 3}\n",
     "`ranker.shelves.playlists.max_dept`: unknown key; valid keys: backend,"),
    ("gate: [1, 2]\n", "`gate` must be a mapping of keys to values, got list [1, 2]"),
    ("shelves:\n  podcasts: 5\n", "`shelves.podcasts` must be a mapping of keys to values, got int 5"),
    # a quoted "false" is a true string in Python; a bare name where a list belongs would be read letter by letter
    ("page: {dedup: \"false\"}\n", "`page.dedup` must be true or false, got str 'false'"),
    ("drift: {fail_on_alert: 0}\n", "`drift.fail_on_alert` must be true or false, got int 0"),
    ("page: {claim_order: shortcuts}\n", "`page.claim_order` must be a list, e.g. [shortcuts], got str 'shortcuts'"),
    ("shelves:\n  podcasts: {item_types: show}\n", "`shelves.podcasts.item_types` must be a list"),
])
def test_a_misspelt_key_is_refused_naming_its_path(tmp_path, text, message):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(InputError) as err:
        load_config(str(path))
    assert f"config file {path}: {message}" in str(err.value)


def test_names_chosen_by_the_user_are_accepted(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("shelves:\n  deep_cuts: {title: Deep cuts, kind: rule, rule: new_episodes, size: 5,"
                    " item_types: [episode]}\n  podcasts:\n    sources: {colisten: 10}\n"
                    "    heuristic_weights: {genre_match: 1.0}\n"
                    "ranker:\n  params: {gamma: 1.0}\n  shelves:\n    playlists: {params: {max_depth: 3}}\n"
                    "gate:\n  thresholds: {deep_cuts: 0.1}\ndrift:\n  thresholds:\n    features: {shortcuts.trend: 0.3}\n")
    config = load_config(str(path))
    assert config["shelves"]["deep_cuts"]["size"] == 5 and config["ranker"]["params"]["gamma"] == 1.0
    assert config["gate"]["thresholds"]["deep_cuts"] == 0.1 and config["shelves"]["podcasts"]["sources"] == {
        "colisten": 10, "popular": 100, "onboarding": 50}


def test_overrides_are_checked_too():
    with pytest.raises(InputError, match="config overrides: `run.listener_batch_sise`: unknown key"):
        load_config(overrides={"run": {"listener_batch_sise": 10}})


def test_a_shelf_listed_twice_in_the_claim_order_is_refused(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("page: {claim_order: [podcasts, shortcuts, podcasts]}\n")
    with pytest.raises(InputError, match=r"page.claim_order lists shelf\(s\) \['podcasts'\] more than once"):
        load_config(str(path))
