-- Consumers are named explicitly now (a renamed handler must not see history as new): the
-- de-duplication records written under the handlers' former module-derived names follow.
UPDATE processed_events SET consumer = CASE consumer
    WHEN 'services.agents.handlers.remember_user' THEN 'remember-user'
    WHEN 'services.agents.handlers.create_task' THEN 'create-task'
    WHEN 'services.agents.handlers.message_done' THEN 'message-done'
    WHEN 'services.agents.handlers.message_failed' THEN 'message-failed'
    WHEN 'services.agents.handlers.campaign_ended' THEN 'campaign-ended'
    WHEN 'services.agents.handlers.understand_reply' THEN 'understand-reply'
    ELSE consumer END
WHERE consumer LIKE 'services.agents.handlers.%';
