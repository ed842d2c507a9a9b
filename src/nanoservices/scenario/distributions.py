"""Moved to nanoservices.model.distributions (the model layer); this name stays for old imports."""

from nanoservices.model.distributions import (
    Z99,
    Added,
    ErrorRate,
    Fixed,
    LatencyModel,
    LogNormal,
    Normal,
    Percentiles,
    Uniform,
)

__all__ = [
    "Z99",
    "Added",
    "ErrorRate",
    "Fixed",
    "LatencyModel",
    "LogNormal",
    "Normal",
    "Percentiles",
    "Uniform",
]
