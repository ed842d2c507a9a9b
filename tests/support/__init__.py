"""Test utilities: an in-process OTLP receiver and a real Phoenix tracing backend."""
