"""Moved to nanoservices.model.quantities (the model layer); this name stays for old imports."""

from nanoservices.model.quantities import duration, name, number, rate, seconds_text, share, shown, version

__all__ = ["duration", "name", "number", "rate", "seconds_text", "share", "shown", "version"]
