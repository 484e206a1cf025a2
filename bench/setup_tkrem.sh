#!/usr/bin/env bash
# Create the isolated TensorFlow environment that runs the tk-r-em baseline, apart from noise2atom's own
# (TensorFlow must not share an environment with the pinned CPU torch). Then:
#   export NOISE2ATOM_TKREM_PYTHON=<folder>/bin/python
#   noise2atom benchmark --methods tk-r-em ...
# tk-r-em 1.0.4 ships Keras-2 SavedModels: with TensorFlow 2.21 they load only through tf-keras
# (TF_USE_LEGACY_KERAS=1, set by the benchmark's helper).
set -euo pipefail
dest="${1:-$HOME/.noise2atom-tkrem}"
python3 -m venv "$dest"
"$dest/bin/pip" install --quiet "tk-r-em==1.0.4" "tensorflow-cpu==2.21.0" "tf-keras==2.21.0"
echo "export NOISE2ATOM_TKREM_PYTHON=$dest/bin/python"
