"""Operator tooling: the `remit` command, the diagnostics (also served at /api/v1/diagnostics),
dead letters, broker figures, request traces, log reading and cache clearing.

Services may import it; the runtime library (the rest of `shared`) does not."""
