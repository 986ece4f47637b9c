"""An example archc plugin: ``mish`` and ``squeeze_excite`` (alias ``se``), registered by
:mod:`archc_plugin_example.ops` when a spec first uses them."""
