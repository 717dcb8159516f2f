"""Leaderboards of validated result submissions.

Hosted evaluation queues die of cost; a plurieval board instead accepts *entries* built from
finished runs (``submit``), which anyone can check (``validate`` recomputes every number from
the per-example results) and re-check by re-running the manifest. ``build`` renders a board
(ranks, bootstrap intervals, statistically tied groups, plots) as Markdown and a self-contained
HTML page; ``compare`` sets methods side by side across benchmarks. See docs/leaderboards.md.

Modules: ``schema`` (board spec + entry, JSON Schema), ``scoring`` (recomputation, paired
bootstrap), ``validate``, ``submit``, ``build``, ``compare``, ``render``, ``cli``. This package
imports no torch or mlflow; matplotlib is imported only when a plot is drawn.
"""
