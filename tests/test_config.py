import pytest

from noise2atom.config import CONFIG_VERSION, ConfigError, RunConfig, preset_config


def test_round_trip_and_seed_drawn():
    c = RunConfig()
    assert isinstance(c.seed, int)
    again = RunConfig.from_dict(c.to_dict())
    assert again == c


def test_presets():
    assert preset_config("small").data.crop_px == 64
    assert preset_config("paper").model.res_blocks == 16
    for name in ("small", "paper"):  # the recipe the arena chose (docs/benchmarks.md)
        c = preset_config(name)
        assert (c.train.pair_steps, c.train.epochs, c.model.context_frames, c.denoise.background_frames) == (1000, 0, 4, 0)
    with pytest.raises(ConfigError, match="unknown preset"):
        preset_config("huge")


def test_cross_section_validation():
    with pytest.raises(ConfigError, match="multiple of 16"):
        preset_config("small").with_updates(data={"crop_px": 40})
    with pytest.raises(ConfigError, match="low-pass kernel"):
        preset_config("small").with_updates(data={"crop_px": 32})
    with pytest.raises(ConfigError, match="tile_px"):
        preset_config("small").with_updates(denoise={"tile_px": 60})
    with pytest.raises(ConfigError, match="overlap_px"):
        preset_config("small").with_updates(denoise={"overlap_px": 80})


def test_newer_version_and_unknown_keys_refused():
    d = RunConfig(seed=1).to_dict()
    with pytest.raises(ConfigError, match="newer"):
        RunConfig.from_dict({**d, "version": CONFIG_VERSION + 1})
    with pytest.raises(ConfigError, match="unknown configuration keys"):
        RunConfig.from_dict({**d, "colour": "red"})
    bad = dict(d)
    bad["train"] = {**d["train"], "lr": "fast"}
    with pytest.raises(ConfigError, match="must be a number"):
        RunConfig.from_dict(bad)
    with pytest.raises(ConfigError, match="unknown train fields"):
        RunConfig(seed=1).with_updates(train={"speed": 3})
