"""Loading the config: unknown keys are refused with their dotted path and the closest valid name."""
from __future__ import annotations

import pytest

from transforms.config.config import load_config
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
                    "gate:\n  thresholds: {deep_cuts: 0.1}\ndrift:\n  thresholds:\n    features: {shortcuts.trend: 0.3}\n"
                    "page:\n  claim_order: [editors_picks, shortcuts, podcasts, playlists, new_episodes, deep_cuts]\n")
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


def test_a_familiar_shelf_refuses_a_neighbour_source(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("shelves:\n  shortcuts:\n    sources: {colisten: 60, als: 40}\n")
    with pytest.raises(InputError) as err:
        load_config(str(path))
    assert str(err.value) == ("config: shelves.shortcuts is familiar (familiar: true), so only the history source "
                              "may fill it; remove source(s) colisten, als or set shelves.shortcuts.familiar: false")
    path.write_text("shelves:\n  shortcuts:\n    familiar: false\n    sources: {colisten: 60}\n")
    assert load_config(str(path))["shelves"]["shortcuts"]["sources"] == {"history": 200, "colisten": 60}


def test_a_familiar_shelf_that_excludes_played_items_is_refused():
    with pytest.raises(InputError, match=r"^config: shelves.shortcuts is familiar \(familiar: true\), and "
                                         r"exclude_played: true would remove every candidate it has"):
        load_config(overrides={"shelves": {"shortcuts": {"exclude_played": True}}})


def test_shortcuts_is_familiar_and_history_only_by_default():
    shelf = load_config()["shelves"]["shortcuts"]
    assert shelf["familiar"] is True and shelf["sources"] == {"history": 200} and shelf["active_within_days"] == 28
    assert not load_config()["shelves"]["podcasts"].get("familiar", False)


@pytest.mark.parametrize("value", [0, -3, "28", True])
def test_active_within_days_must_be_a_positive_number(value):
    with pytest.raises(InputError, match=r"shelves\.shortcuts\.active_within_days`? must be"):
        load_config(overrides={"shelves": {"shortcuts": {"active_within_days": value}}})


def test_the_cli_refuses_a_familiar_shelf_with_popularity_in_one_line(tmp_path, capsys):
    from jobs.cli import main

    path = tmp_path / "c.yaml"
    path.write_text("shelves:\n  shortcuts:\n    sources: {popular: 10}\n")
    code = main(["daily", "--date", "2026-11-28", "--input", str(tmp_path / "in"), "--output", str(tmp_path / "out"),
                 "--config", str(path)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err
    assert err.endswith("only the history source may fill it; remove source(s) popular or set "
                        "shelves.shortcuts.familiar: false")


def test_a_claim_order_that_misses_a_shelf_is_refused(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("shelves:\n  deep_cuts: {title: Deep cuts, kind: rule, rule: new_episodes, size: 5}\n")
    with pytest.raises(InputError, match=r"page.claim_order misses shelf\(s\) \['deep_cuts'\]: list every shelf"):
        load_config(str(path))


def test_config_show_prints_the_effective_config_and_exits_2_on_a_bad_one(tmp_path, capsys):
    import json

    from jobs.cli import main

    path = tmp_path / "c.yaml"
    path.write_text("shelves:\n  podcasts: {size: 7}\n")
    assert main(["config", "show", "--config", str(path), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown == json.loads(json.dumps(load_config(str(path)), default=str))
    assert shown["shelves"]["podcasts"]["size"] == 7 and shown["shelves"]["podcasts"]["max_candidates"] == 200
    path.write_text("gate:\n  tresholds: {}\n")
    assert main(["config", "show", "--config", str(path)]) == 2
    assert "did you mean `thresholds`?" in capsys.readouterr().err


@pytest.mark.parametrize("text, message", [
    ("gate:\n  tresholds: {shortcuts: 0.2}\n", "`gate.tresholds`: unknown key; did you mean `thresholds`?"),
    ("shelves:\n  podcasts:\n    sise: 3\n", "`shelves.podcasts.sise`: unknown key; did you mean `size`?"),
    ("drift:\n  fail_on_alrt: false\n", "`drift.fail_on_alrt`: unknown key; did you mean `fail_on_alert`?"),
    ("shelvs:\n  a: {}\n", "`shelvs`: unknown key; did you mean `shelves`?"),
])
def test_each_typo_of_the_issue_exits_2_with_one_line_naming_the_key(tmp_path, capsys, text, message):
    from jobs.cli import main

    path = tmp_path / "c.yaml"
    path.write_text(text)
    assert main(["config", "show", "--config", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.endswith(f"config file {path}: {message}")


def test_each_shelf_kind_has_its_own_keys():
    with pytest.raises(InputError, match=r"^config overrides: `shelves.editors_picks.sources`: not a key of an "
                                         r"editorial shelf \(only of kind: model\); valid keys: block_explicit_for_minors, kind, "
                                         r"markets, size, title$"):
        load_config(overrides={"shelves": {"editors_picks": {"sources": {"popular": 5}}}})
    with pytest.raises(InputError, match=r"`shelves.editors_picks.sise`: unknown key; did you mean `size`\?"):
        load_config(overrides={"shelves": {"editors_picks": {"sise": 5}}})
    with pytest.raises(InputError, match=r"`shelves.deep_cuts.kind` must be one of \('model', 'rule', 'editorial'\), "
                                         r"got 'rules'"):
        load_config(overrides={"shelves": {"deep_cuts": {"kind": "rules", "size": 3}}})
    with pytest.raises(InputError, match=r"`shelves.deep_cuts.size` is required"):
        load_config(overrides={"shelves": {"deep_cuts": {"kind": "editorial"}}})


def test_defaults_are_filled_in_from_the_schema(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("shelves:\n  deep_cuts: {kind: rule, size: 5, item_types: [episode]}\n"
                    "page:\n  claim_order: [editors_picks, shortcuts, podcasts, playlists, new_episodes, deep_cuts]\n"
                    "ranker:\n  shelves:\n    playlists: {params: {max_depth: 3}}\n")
    config = load_config(str(path))
    deep = config["shelves"]["deep_cuts"]
    # the rule defaults to the shelf's name; the filters to the schema's defaults
    assert deep["rule"] == "deep_cuts" and deep["followed_min_plays"] == 2 and deep["max_age_days"] == 7.0
    assert deep["block_explicit_for_minors"] is True and deep["title"] == "" and "sources" not in deep
    assert config["shelves"]["podcasts"]["max_candidates"] == 200 and config["shelves"]["podcasts"]["familiar"] is False
    # a per-shelf ranker override keeps only what was given: it is merged over the ranker section
    assert config["ranker"]["shelves"] == {"playlists": {"params": {"max_depth": 3}}}
    assert "timezone" not in config["run"] and "outputs" not in config


def test_the_drift_and_neighbours_defaults_are_the_schema_defaults():
    from models.candidates.neighbours import defaults
    from transforms.monitoring.drift import DEFAULT_DRIFT_CONFIG

    config = load_config()
    assert config["drift"] == DEFAULT_DRIFT_CONFIG and DEFAULT_DRIFT_CONFIG["thresholds"]["default_numeric"] == 0.1
    assert config["neighbours"] == defaults() and defaults()["min_score"] == {"cooccurrence": 0.0, "als": 0.1}


@pytest.mark.parametrize("override, message", [
    ({"shelves": {"podcasts": {"heuristic_weights": {"genre_mach": 1.0}}}},
     "config: shelves.podcasts.heuristic_weights.genre_mach: unknown feature; did you mean `genre_match`?"),
    ({"shelves": {"deep_cuts": {"kind": "model", "size": 3, "sources": {"popular": 5}}},
      "page": {"claim_order": ["editors_picks", "shortcuts", "podcasts", "playlists", "new_episodes", "deep_cuts"]}},
     "config: shelves.deep_cuts is a model shelf without a feature spec"),
    ({"drift": {"thresholds": {"features": {"podcasts.trnd": 0.2}}}},
     "config: drift.thresholds.features.podcasts.trnd: unknown feature; did you mean `trend`?"),
    ({"drift": {"thresholds": {"features": {"new_episodes.trend": 0.2}}}},
     "config: drift.thresholds.features.new_episodes.trend: 'new_episodes' is not a model shelf"),
])
def test_names_the_models_know_are_checked_before_any_input_is_read(override, message):
    from models.config_checks import check_config

    with pytest.raises(InputError) as err:
        check_config(load_config(overrides=override))
    assert str(err.value).startswith(message)


def test_a_key_of_another_shelf_kind_is_named_as_such():
    with pytest.raises(InputError, match=r"`shelves.podcasts.max_candidates`: not a key of a rule shelf \(only of "
                                         r"kind: model\); valid keys: active_within_days,"):
        load_config(overrides={"shelves": {"podcasts": {"kind": "rule"}}})


@pytest.mark.parametrize("override, message", [
    ({"neighbours": {"als": {"rank": 0}}}, "`neighbours.als.rank` must be greater than or equal to 1, got int 0"),
    ({"neighbours": {"min_score": {"als": 1.5}}}, "`neighbours.min_score.als` must be less than or equal to 1"),
    ({"drift": {"noise_alpha": 2}}, "`drift.noise_alpha` must be less than 1, got int 2"),
    ({"ranker": {"backend": "gpu"}}, "`ranker.backend` must be 'local' or 'spark', got str 'gpu'"),
])
def test_out_of_range_values_are_refused_when_the_config_loads(override, message):
    with pytest.raises(InputError, match="^config overrides: " + __import__("re").escape(message)):
        load_config(overrides=override)


def test_a_per_shelf_ranker_override_is_merged_key_by_key():
    from models.ranking.ranker import ranker_config

    config = load_config(overrides={"ranker": {"shelves": {"playlists": {"spark": {"num_workers": 2},
                                                                         "params": {"max_depth": 3}}}}})
    rcfg = ranker_config(config, "playlists")
    assert rcfg["spark"] == {"master": "local[2]", "num_workers": 2} and rcfg["params"]["max_depth"] == 3
    assert rcfg["params"]["eta"] == 0.05 and ranker_config(config, "podcasts")["spark"]["num_workers"] == 1
