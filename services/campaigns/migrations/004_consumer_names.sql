-- Consumers are named explicitly now (a renamed handler must not see history as new): the
-- de-duplication records written under the handlers' former module-derived names follow.
UPDATE processed_events SET consumer = CASE consumer
    WHEN 'services.campaigns.handlers.task_completed' THEN 'task-completed'
    WHEN 'services.campaigns.handlers.task_failed' THEN 'task-failed'
    WHEN 'services.campaigns.handlers.reply_classified' THEN 'reply-classified'
    ELSE consumer END
WHERE consumer LIKE 'services.campaigns.handlers.%';
