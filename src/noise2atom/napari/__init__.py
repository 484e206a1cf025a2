"""napari plugin (the ``[napari]`` extra): a dock widget that trains on the selected image layer and
denoises it into a new layer with the same scale, in a worker thread with a progress bar; and a
reader that opens DM3/DM4, EMD, TIA, MRC and ``.hspy`` files with their pixel size and unit.

The npe2 manifest is ``napari.yaml`` beside this file (entry point ``napari.manifest``).
"""
