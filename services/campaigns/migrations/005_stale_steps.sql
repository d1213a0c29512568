-- Emitted runs whose result never came are asked for again (scheduler.redrive_stale).
CREATE INDEX step_runs_emitted ON step_runs (updated_at) WHERE status = 'emitted';
