"""``archc serve``: a local web playground for specs (the ``serve`` extra: Starlette and uvicorn).

The pieces read in one direction:

- :mod:`archc.serve.workspace`: the served folder; every path a request names is checked here
  (relative, no ``..``, no symlinks, ``.arch`` only) and saves are atomic and refuse to overwrite
  a file changed on disk since it was opened.
- :mod:`archc.serve.jobs`: what one compile computes (diagnostics, totals, stages, the diagram,
  hover data, parameter controls, the comparison), a pure function run in a worker process.
- :mod:`archc.serve.pool`: worker processes with a time limit; a stuck worker is killed (with
  the ``dot`` it started) and replaced, so one pathological spec never blocks the server.
- :mod:`archc.serve.app`: the Starlette application: JSON API, static page, request limits and
  the host/origin checks that keep other web pages out.

The browser side is ``frontend/`` (CodeMirror 6), bundled by esbuild into ``static/``
(committed, so installing archc needs no npm; ``make frontend`` rebuilds it).

Nothing here is imported by the rest of archc: the core stays free of web dependencies.
"""
