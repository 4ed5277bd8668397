"""Run configs: validation with field paths, per-component params, --set overrides, round trips."""

from __future__ import annotations

import json

import pytest

from conftest import tiny_raw
from ganzoo.config import apply_overrides, load_config, parse_value, resolve
from ganzoo.errors import ConfigError


def test_resolve_fills_component_defaults(registry):
    cfg = resolve(tiny_raw(), registry)
    assert cfg.model.params["g_norm"] == "selfmod"
    assert cfg.model.params["selfmod_hidden"] == 32  # default written back by the plugin's model
    assert cfg.loss.params == {}
    again = resolve(json.loads(cfg.to_json()), registry)
    assert again == cfg and again.hash() == cfg.hash()


@pytest.mark.parametrize("mutate, expected", [
    (lambda r: r.update(bogus=1), "bogus: unknown key"),
    (lambda r: r["train"].update(g_steps="many"), "train.g_steps: Input should be a valid integer"),
    (lambda r: r["train"].update(batch_size=0), "train.batch_size: Input should be greater than or equal to 1"),
    (lambda r: r["model"]["params"].update(widht=1), "model.params.widht: unknown key"),
    (lambda r: r["model"]["params"].update(g_norm="layer"), "model.params.g_norm: Input should be"),
    (lambda r: r["loss"].update(name="hingee"), "loss.name: unknown loss 'hingee'; available: hinge, lsgan, non-saturating, wgan"),
    (lambda r: r.update(regularizers=[{"name": "wgan-gp", "params": {"weight": -1}}]),
     "regularizers.0.params.weight: Input should be greater than or equal to 0"),
    (lambda r: r["data"].update(name="celeba"), "data.name: unknown dataset 'celeba'; available:"),
])
def test_errors_name_the_field(registry, mutate, expected):
    raw = tiny_raw()
    mutate(raw)
    with pytest.raises(ConfigError) as err:
        resolve(raw, registry)
    assert expected in str(err.value)
    assert "\n" not in str(err.value)


def test_overrides_set_any_field():
    raw = {"train": {"g_steps": 5}, "regularizers": [{"name": "r1", "params": {}}]}
    out = apply_overrides(raw, ["train.g_steps=7", "model.params.g_norm=bn", "fast.bf16=true",
                                "regularizers.0.params.gamma=0.5", "name=my run"])
    assert out["train"]["g_steps"] == 7
    assert out["model"]["params"]["g_norm"] == "bn"
    assert out["fast"]["bf16"] is True
    assert out["regularizers"][0]["params"]["gamma"] == 0.5
    assert out["name"] == "my run"
    assert raw["train"]["g_steps"] == 5  # the input is not modified


def test_override_errors():
    with pytest.raises(ConfigError, match="expected KEY.PATH=VALUE"):
        apply_overrides({}, ["train.g_steps"])
    with pytest.raises(ConfigError, match="not an index"):
        apply_overrides({"regularizers": []}, ["regularizers.0.name=r1"])


def test_values_are_toml_never_python():
    assert parse_value("3") == 3 and parse_value("1e-4") == 1e-4 and parse_value("false") is False
    assert parse_value("[1, 2]") == [1, 2] and parse_value('"x y"') == "x y"
    assert parse_value("__import__('os').system('true')") == "__import__('os').system('true')"


def test_load_config_file(tmp_path, registry):
    path = tmp_path / "run.toml"
    path.write_text('name = "x"\n[data]\nname = "digits"\nresolution = 8\n'
                    '[model]\nname = "sndcgan"\n[loss]\nname = "hinge"\n')
    cfg = load_config(path, ["train.g_steps=3"], registry)
    assert cfg.train.g_steps == 3 and cfg.model.params["g_norm"] == "bn"
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.toml", (), registry)
    path.write_text("name = \n")
    with pytest.raises(ConfigError, match="cannot parse"):
        load_config(path, (), registry)


@pytest.mark.parametrize("override, expected", [
    ("model.params.width=true", "model.params.width: Input should be a valid number, got bool true"),
    ("train.g_steps=2.5", "train.g_steps: Input should be a valid integer, got float 2.5"),
    ("train.g_steps=true", "train.g_steps: Input should be a valid integer, got bool true"),
    ("ema.enabled=1", "ema.enabled: Input should be a valid boolean, got int 1"),
    ("name=3", "name: Input should be a valid string, got int 3 (write strings in quotes)"),
    ("model.params.g_norm=1", "model.params.g_norm: Input should be"),
    ("eval.metrics=[1]", "eval.metrics.0: Input should be a valid string, got int 1"),
])
def test_config_types_are_never_coerced(registry, override, expected):
    with pytest.raises(ConfigError) as err:
        resolve(apply_overrides(tiny_raw(), [override]), registry)
    assert expected in str(err.value) and "\n" not in str(err.value)


def test_an_int_is_still_a_float_and_lists_fill_tuples(registry):
    cfg = resolve(apply_overrides(tiny_raw(), ["model.params.width=1", "g_optim.lr=1"]), registry)
    assert cfg.model.params["width"] == 1.0 and cfg.g_optim.lr == 1.0
    raw = {"name": "b", "data": {"name": "digits", "resolution": 8}, "model": {"name": "biggan",
           "params": {"attention": [8]}}, "loss": {"name": "hinge"}}
    assert resolve(raw, registry).model.params["attention"] == [8]
    raw["model"]["params"]["attention"] = [True]
    with pytest.raises(ConfigError, match="model.params.attention.0: Input should be a valid integer"):
        resolve(raw, registry)


def test_suite_files_are_strict_too(tmp_path, registry):
    from ganzoo.report import validate_kinds
    from ganzoo.suite import load_suite

    path = tmp_path / "s.toml"
    path.write_text('name = "s"\ntitle = "t"\npaper = "p"\nbase = {}\n[scales.smoke]\nseeds = [0]\n'
                    '[[tables]]\nkind = "metrics"\ntitle = "x"\ndigits = 2.0\n')
    with pytest.raises(ConfigError) as err:  # a table's fields are its kind's: checked before any run
        validate_kinds(load_suite(path), registry)
    assert "digits: Input should be a valid integer" in str(err.value)
    path.write_text(path.read_text().replace('kind = "metrics"', 'kind = "best-of"').replace(
        "digits = 2.0", "lower_is_better = 1"))
    with pytest.raises(ConfigError, match="lower_is_better: Input should be a valid boolean"):
        validate_kinds(load_suite(path), registry)
