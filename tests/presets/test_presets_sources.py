"""Names resolve user > plugin > built-in, never leave their folder, and unknown names get did-you-mean."""

from __future__ import annotations

import os

import pytest
from preset_helpers import write

from sdkit.core.errors import UnknownKeyError, UserInputError
from sdkit.presets import list_presets, load_preset
from sdkit.registry import PluginWarning

SIMPLE = "schema_version: 1\ntask: txt2img\ndescription: {description}\nparams:\n  steps: {steps}\n"


def info_by_name():
    return {info.name: info for info in list_presets()}


def test_builtin_presets_resolve_by_name():
    preset = load_preset("txt2img/basic")
    assert preset.source == "builtin" and preset.name == "txt2img/basic"
    assert preset.path.name == "basic.yaml" and preset.path.parent.name == "txt2img"


def test_name_may_carry_the_suffix():
    assert load_preset("txt2img/basic.yaml").name == "txt2img/basic"


def test_user_preset_shadows_a_builtin(user_dir):
    write(user_dir / "txt2img" / "basic.yaml", SIMPLE.format(description="mine", steps=3))
    preset = load_preset("txt2img/basic")
    assert preset.source == "user" and preset.params["steps"] == 3
    listed = info_by_name()["txt2img/basic"]
    assert listed.source == "user" and listed.description == "mine" and listed.shadows == ("builtin",)


def test_user_yml_suffix_and_nested_names(user_dir):
    write(user_dir / "portraits" / "studio" / "soft.yml", SIMPLE.format(description="nested", steps=9))
    assert load_preset("portraits/studio/soft").params["steps"] == 9
    assert info_by_name()["portraits/studio/soft"].source == "user"


def test_unknown_name_suggests_close_ones():
    with pytest.raises(UnknownKeyError) as caught:
        load_preset("txt2img/basik")
    assert isinstance(caught.value, KeyError)
    assert "did you mean 'txt2img/basic'" in caught.value.message
    assert "txt2img/sdxl" in caught.value.hint


@pytest.mark.parametrize("name", ["../secrets", "txt2img/../../x", "/etc/passwd-like", "C:evil", ".hidden/x",
                                  "a//b", "txt2img/bas ic"])
def test_names_cannot_leave_their_folder(name):
    with pytest.raises(UserInputError) as caught:
        load_preset(name)
    assert "not a valid preset name" in caught.value.message and ".yaml" in caught.value.hint


def test_symlink_pointing_outside_is_refused(user_dir, tmp_path):
    outside = write(tmp_path / "elsewhere" / "target.yaml", SIMPLE.format(description="out", steps=2))
    (user_dir / "txt2img").mkdir()
    os.symlink(outside, user_dir / "txt2img" / "linked.yaml")
    with pytest.raises(UserInputError, match="points outside its folder"):
        load_preset("txt2img/linked")
    listed = info_by_name()["txt2img/linked"]
    assert listed.error is not None and "outside" in listed.error


def test_symlink_inside_the_folder_is_fine(user_dir):
    target = write(user_dir / "base" / "a.yaml", SIMPLE.format(description="a", steps=4))
    os.symlink(target, user_dir / "alias.yaml")
    assert load_preset("alias").params["steps"] == 4


def test_file_paths_are_read_directly(tmp_path, monkeypatch):
    write(tmp_path / "mine.yml", SIMPLE.format(description="file", steps=5))
    write(tmp_path / "sub" / "noext", SIMPLE.format(description="noext", steps=6))
    monkeypatch.chdir(tmp_path)
    assert load_preset("mine.yml").source == "file"
    noext = load_preset("sub/noext")  # has a separator and exists: a file, not a name
    assert noext.source == "file" and noext.params["steps"] == 6


def test_invalid_user_preset_is_listed_not_fatal(user_dir):
    write(user_dir / "txt2img" / "broken.yaml", "schema_version: 1\ntask: txt2img\nparams:\n  stepz: 1\n")
    infos = info_by_name()
    assert "did you mean 'steps'" in infos["txt2img/broken"].error
    assert infos["txt2img/basic"].error is None


def test_plugin_presets_sit_between_user_and_builtin(make_plugin, user_dir):
    folder = make_plugin("sdkit-fancy")
    write(folder / "txt2img" / "fancy.yaml", SIMPLE.format(description="from plugin", steps=11))
    write(folder / "txt2img" / "basic.yaml", SIMPLE.format(description="plugin basic", steps=12))
    assert load_preset("txt2img/fancy").source == "sdkit-fancy"
    assert load_preset("txt2img/basic").source == "sdkit-fancy"  # a plugin beats the built-in
    write(user_dir / "txt2img" / "basic.yaml", SIMPLE.format(description="user basic", steps=13))
    assert load_preset("txt2img/basic").source == "user"  # the user beats the plugin
    assert info_by_name()["txt2img/basic"].shadows == ("sdkit-fancy", "builtin")


def test_plugin_entry_may_be_a_callable(make_plugin):
    folder = make_plugin("sdkit-callable", callable_entry=True)
    write(folder / "upscale" / "x4.yaml", "schema_version: 1\ntask: upscale\nparams:\n  tile: 256\n")
    assert load_preset("upscale/x4").source == "sdkit-callable"


def test_two_plugins_with_one_name_warn_naming_both(make_plugin):
    for dist in ("zeta-presets", "alpha-presets"):
        write(make_plugin(dist) / "txt2img" / "shared.yaml", SIMPLE.format(description=dist, steps=2))
    with pytest.warns(PluginWarning, match="alpha-presets and zeta-presets"):
        preset = load_preset("txt2img/shared")
    assert preset.source == "alpha-presets"  # deterministic: distribution names in order
    with pytest.warns(PluginWarning, match="alpha-presets and zeta-presets"):
        assert info_by_name()["txt2img/shared"].source == "alpha-presets"


def test_broken_plugin_breaks_nothing_else(make_plugin):
    make_plugin("sdkit-broken", target="no_such_module_for_sdkit_tests:FOLDER")
    assert load_preset("txt2img/basic").source == "builtin"
    assert "txt2img/basic" in info_by_name()


def test_plugins_can_be_turned_off(make_plugin, monkeypatch):
    write(make_plugin("sdkit-off") / "txt2img" / "off.yaml", SIMPLE.format(description="off", steps=2))
    monkeypatch.setenv("SDKIT_LOAD_PLUGINS", "")
    from sdkit.registry import reset_registries

    reset_registries()
    assert "txt2img/off" not in info_by_name()
    with pytest.raises(UnknownKeyError):
        load_preset("txt2img/off")
