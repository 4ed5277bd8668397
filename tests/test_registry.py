"""The plugin registry: built-ins, entry points, the autoload switch, duplicate names, hook docs."""

from __future__ import annotations

import inspect
import sys
import types

import pytest

from fakedist import make_dist
from ganzoo import LossSpec, hookimpl, hookspecs
from ganzoo.errors import ConfigError, PluginError
from ganzoo.registry import DEFAULT_PLUGINS, load_registry


def _plugin_module(name: str, hook_name: str, fn) -> types.ModuleType:
    mod = types.ModuleType(name)
    setattr(mod, hook_name, hookimpl(fn))
    return mod


def test_builtins_register_every_kind(registry):
    assert set(registry.plugins) == set(DEFAULT_PLUGINS)
    assert {"sndcgan", "resnet"} <= set(registry.names("architectures"))
    assert {"non-saturating", "hinge", "wgan", "lsgan"} <= set(registry.names("losses"))
    assert {"wgan-gp", "r1", "drift"} <= set(registry.names("regularizers"))
    assert {"digits", "mnist", "stacked-digits", "cifar10", "image-folder", "npz"} <= set(
        registry.names("datasets"))
    for info in registry.plugins.values():
        assert info.origin == "built-in" and info.components


def test_duplicate_name_names_both_plugins():
    def losses():
        return [LossSpec(name="hinge", d_loss=lambda a, b, p: a, g_loss=lambda a, p: a)]

    mod = _plugin_module("my_dupe_plugin", "register_losses", losses)
    with pytest.raises(PluginError) as err:
        load_registry(autoload=False, extra=[(mod, "my-dupe-plugin")])
    msg = str(err.value)
    assert "'hinge'" in msg and "'ganzoo_losses'" in msg and "'my-dupe-plugin'" in msg


def test_misspelled_hook_is_rejected():
    mod = _plugin_module("typo_plugin", "register_lossez", lambda: [])
    with pytest.raises(PluginError, match="register_lossez"):
        load_registry(autoload=False, extra=[(mod, "typo")])


def test_wrong_spec_type_is_rejected():
    mod = _plugin_module("wrong_plugin", "register_losses", lambda: ["not a spec"])
    with pytest.raises(PluginError, match="expected LossSpec"):
        load_registry(autoload=False, extra=[(mod, "wrong")])


def test_unknown_name_lists_available(registry):
    with pytest.raises(ConfigError) as err:
        registry.get("losses", "hingee", where="loss.name")
    assert "loss.name" in str(err.value) and "non-saturating" in str(err.value)


@pytest.fixture
def installed_plugin(tmp_path, monkeypatch):
    root = make_dist(tmp_path / "site")
    monkeypatch.syspath_prepend(str(root))
    yield root
    sys.modules.pop("ganzoo_scaled_hinge", None)


def test_entry_point_plugin_loads_with_autoload(installed_plugin):
    reg = load_registry(autoload=True)
    assert "scaled-hinge" in reg.names("losses")
    info = reg.plugins["ganzoo_scaled_hinge"]
    assert info.version == "0.3.1"
    assert info.origin == "entry point ganzoo-scaled-hinge==0.3.1"
    assert info.components == {"losses": ["scaled-hinge"]}


def test_autoload_switch(installed_plugin, monkeypatch):
    monkeypatch.setenv("GANZOO_DISABLE_PLUGIN_AUTOLOAD", "1")
    assert "scaled-hinge" not in load_registry().names("losses")
    monkeypatch.setenv("GANZOO_DISABLE_PLUGIN_AUTOLOAD", "0")
    assert "scaled-hinge" in load_registry().names("losses")
    monkeypatch.delenv("GANZOO_DISABLE_PLUGIN_AUTOLOAD")
    assert "scaled-hinge" in load_registry().names("losses")


def test_broken_entry_point_is_reported_and_skipped(tmp_path, monkeypatch, caplog, installed_plugin):
    root = make_dist(tmp_path / "site2", dist="ganzoo-broken", module="ganzoo_broken",
                     source="raise ImportError('missing dependency foo')\n")
    monkeypatch.syspath_prepend(str(root))
    with caplog.at_level("WARNING", logger="ganzoo"):
        reg = load_registry(autoload=True)
    assert "scaled-hinge" in reg.names("losses") and "hinge" in reg.names("losses")  # the others work
    broken = reg.plugins["ganzoo_broken"]
    assert broken.error == "ImportError: missing dependency foo" and broken.components == {}
    lines = [r.getMessage() for r in caplog.records if "ganzoo_broken" in r.getMessage()]
    assert len(lines) == 1 and "\n" not in lines[0]
    for part in ("ganzoo-broken==0.3.1", "entry point 'ganzoo_broken = ganzoo_broken'",
                 "missing dependency foo", "GANZOO_DISABLE_PLUGIN_AUTOLOAD=1"):
        assert part in lines[0]
    with pytest.raises(ConfigError, match="failed to load: ganzoo_broken"):
        reg.get("losses", "broken-loss", where="loss.name")


def test_a_plugin_whose_hook_raises_is_broken_not_fatal(tmp_path, monkeypatch, caplog):
    source = ("from ganzoo import hookimpl\n@hookimpl\ndef register_losses():\n"
              "    raise RuntimeError('bad hook')\n")
    root = make_dist(tmp_path / "site", dist="ganzoo-badhook", module="ganzoo_badhook", source=source)
    monkeypatch.syspath_prepend(str(root))
    with caplog.at_level("WARNING", logger="ganzoo"):
        reg = load_registry(autoload=True)
    sys.modules.pop("ganzoo_badhook", None)
    assert reg.plugins["ganzoo_badhook"].error == "RuntimeError: bad hook"
    assert "hinge" in reg.names("losses")
    assert any("ganzoo-badhook==0.3.1" in r.getMessage() for r in caplog.records)


def test_every_hookspec_is_documented():
    hooks = [f for n, f in vars(hookspecs).items() if n.startswith("register_")]
    assert len(hooks) == 10
    for fn in hooks:
        doc = inspect.getdoc(fn) or ""
        assert len(doc) > 200, f"{fn.__name__} needs a real docstring"
        assert "Return" in doc
