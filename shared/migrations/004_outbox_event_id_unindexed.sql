-- Nothing looks an outbox row up by its event_id (a fresh uuid4 per event); its unique index
-- was written twice per event (the insert, and the version that marks it published).
ALTER TABLE outbox DROP CONSTRAINT outbox_event_id_key;
