"""The config file: settings sdkit reads, and misspelt ones that would silently do nothing."""

from __future__ import annotations

import logging

from sdkit.runtime.config import load_config


def test_a_misspelt_setting_is_named_with_the_one_meant(tmp_path, caplog):
    config_file = tmp_path / "config.yaml"
    config_file.write_text("model_dir: /somewhere\nmy_plugin_colour: red\n", encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="sdkit.runtime.config"):
        config = load_config(config_file)
        load_config(config_file)  # read again (every lookup of the models folder does): warned once
    assert config.models_dir is None  # the typo is not taken for the setting
    warnings = [record.getMessage() for record in caplog.records]
    assert warnings == [f"{config_file}: unknown setting 'model_dir' is ignored; did you mean 'models_dir'?"]


def test_the_settings_sdkit_knows_are_read(tmp_path):
    config_file = tmp_path / "config.yaml"
    config_file.write_text("models_dir: /models\noutput_dir: /out\n", encoding="utf-8")
    config = load_config(config_file)
    assert (config.models_dir, config.output_dir) == ("/models", "/out")
