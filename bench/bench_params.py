"""Parameters per network for each preset.

    python bench/bench_params.py
"""

from noise2atom.config import PRESETS, preset_config
from noise2atom.models import build_critic, build_generator, count_parameters

for name in PRESETS:
    cfg = preset_config(name, seed=0)
    print(f"{name}: generator {count_parameters(build_generator(cfg)) / 1e6:.2f} M parameters (x2: Ms2c, Mc2s), "
          f"critic {count_parameters(build_critic(cfg)) / 1e6:.2f} M")

# the shipped models' denoisers (Ms2c, with its context-frame inputs): the default and its fast student
from noise2atom.pretrained import FAST_FILE, load_default, load_fast  # noqa: E402

for label, load in (("default", load_default), ("default-fast", load_fast if FAST_FILE.exists() else None)):
    if load is not None:
        print(f"{label}: Ms2c {count_parameters(load(device='cpu').s2c) / 1e6:.2f} M parameters")
