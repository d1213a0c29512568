-- A refusal no retry can change (a suppressed or opted-out recipient, an invalid number, no
-- consent to AI-voice calls, Regulation F's weekly cap): told as such in `message.failed` and
-- told again alike, and listed by `GET /messages?status=refused` whatever the status.
ALTER TABLE messages ADD COLUMN refused boolean NOT NULL DEFAULT false;
-- Messages refused before the column existed, known by their status or the checks' reasons.
UPDATE messages SET refused = true
WHERE status = 'suppressed'
   OR (status = 'failed' AND (reason LIKE 'Invalid phone number%'
                              OR reason = 'No recorded consent to AI-voice calls (TCPA)'
                              OR reason LIKE 'Regulation F: % call attempts for this debt in 7 days'));
CREATE INDEX messages_refused_page ON messages (created_at, id) WHERE refused;
