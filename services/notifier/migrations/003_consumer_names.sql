-- Consumers are named explicitly now (a renamed handler must not see history as new): the
-- de-duplication records written under the handlers' former module-derived names follow.
UPDATE processed_events SET consumer = CASE consumer
    WHEN 'services.notifier.handlers.send_password_reset' THEN 'send-password-reset'
    WHEN 'services.notifier.handlers.queue_message' THEN 'queue-message'
    ELSE consumer END
WHERE consumer LIKE 'services.notifier.handlers.%';
