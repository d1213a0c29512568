"""The project's shared library: one way to do settings, logs, errors, DB access and events."""
