-- Dead letters replayed by an operator (remit dlq replay, POST /api/v1/diagnostics/dead-letters/…/replay).
-- One row per dead-letter message, so the same message is never replayed twice by accident.
-- The event id is part of the key: a broker that lost its topics (the embedded Tansu keeps
-- them in memory) reuses offsets, and a new message at an old offset is not the replayed one.
CREATE TABLE dead_letter_replays (
    dlq_topic      text NOT NULL,
    dlq_partition  integer NOT NULL,
    dlq_offset     bigint NOT NULL,
    original_topic text NOT NULL,
    event_id       uuid NOT NULL,
    consumer       text,
    replayed_by    text NOT NULL,
    request_id     text,
    replayed_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (dlq_topic, dlq_partition, dlq_offset, event_id)
);
CREATE INDEX dead_letter_replays_event ON dead_letter_replays (event_id);
