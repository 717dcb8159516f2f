"""A test-only plugin: a cheap but real benchmark on a tiny random transformers model.

It exists so the reproducibility tests (resume after SIGKILL, rerun, cache, MLflow) exercise
the real CLI, runner, results file, cache and tracking with real forward passes, in seconds.
"""
