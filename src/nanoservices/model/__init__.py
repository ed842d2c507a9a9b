"""The model layer's values that both an architecture and a scenario describe: quantities, latency
and error models, a version's behaviour and the pydantic pieces that parse them.

Below `scenario/` and `runtime/`: nothing here imports either, so the architecture and the plan
can hold a `VersionBehaviour` without importing the scenario (tests/test_layers.py checks it).
Importing this package loads nothing; `specs` (pydantic) is imported only by the loaders.
"""
