"""archc's fuzzing campaign (issue 14) and translation-validation runs (issue 15).

``fuzz.corpus`` gathers every shipped spec, ``fuzz.mutate`` turns a case id into a case (a spec's
bytes, its file name, ``--set`` overrides), ``fuzz.runner`` runs cases in worker processes with a
time and memory budget, and ``fuzz.translation`` checks emitted modules against the analysis.
Scripts: ``benchmarks/fuzz_campaign.py`` (``make fuzz``) and ``benchmarks/translation_validation.py``
(``make validate-long``); tests: ``tests/test_fuzz.py`` and ``tests/test_translation.py``.

The package is imported as ``fuzz`` with ``tests/`` on ``sys.path`` (as pytest puts it there).
"""
