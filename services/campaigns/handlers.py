"""Events the campaigns service reacts to: task results and understood replies."""

from __future__ import annotations

import uuid
from datetime import timedelta

from services.campaigns import operations
from services.campaigns.domain.lifecycle import Action
from services.campaigns.settings import campaigns_settings
from services.campaigns.stores import campaigns, customers, replies
from shared.clock import clock
from shared.consumer import Handling, Subscription
from shared.contracts import ReplyClassified, TaskCompleted, TaskFailed
from shared.db import Connection
from shared.events import Envelope


async def tasks_completed(connection: Connection, results: list[Handling]) -> None:
    """A step's work is done: record it, and complete each campaign after its last step. A
    step run's first result in the batch counts; a run settled meanwhile (cancelled by a
    payment, say) or unknown is left as it is."""
    first: dict[uuid.UUID, tuple[str, Handling]] = {}
    for handling in results:
        done = handling.event.read(TaskCompleted)
        first.setdefault(done.step_run_id, (done.outcome, handling))
    finished = await campaigns.finish_runs(
        connection, {run: outcome for run, (outcome, _) in first.items()}
    )
    telling: dict[uuid.UUID, Handling] = {}  # a campaign's end joins its last result's trace
    for run, campaign_id in finished.items():
        telling[campaign_id] = first[run][1]
    for campaign in await operations.complete_those_done(connection, list(telling), clock.now()):
        with telling[campaign["id"]].within():
            await operations.publish_completed(connection, campaign)


async def task_failed(connection: Connection, event: Envelope) -> None:
    """Retry the step later while attempts remain and the failure allows it; then fail it (and
    the campaign, if set so).

    A message the notifier refused for good (a suppressed or opted-out recipient, an invalid
    number, no consent, Regulation F's cap) skips the step at once, with the reason: the
    campaign goes on with its other steps, as after a completed one. Any other failure that
    says retrying cannot help (`retryable: false`) fails the step at once. So does a message
    whose outcome is unknown: another attempt would send it under a new key, and the customer
    might get it twice; the step's error says a person must check."""
    settings = campaigns_settings()
    failure = event.read(TaskFailed)
    run = await campaigns.lock_run(connection, failure.step_run_id)
    if run is None or run["status"] not in ("pending", "emitted"):
        return
    campaign_id: uuid.UUID = run["campaign_id"]
    reason = failure.reason
    now = clock.now()
    if failure.refused and not failure.outcome_unknown:
        await campaigns.skip_run(connection, run["id"], f"refused: {reason}")
        await operations.complete_if_done(connection, campaign_id, now)
        return
    if failure.outcome_unknown:
        reason = f"outcome unknown, not retried (a person must check): {reason}"
    retryable = failure.retryable and not failure.outcome_unknown
    if retryable and int(run["attempts"]) < settings.step_max_attempts:
        campaign = await operations.locked_campaign(connection, campaign_id)
        customer = await customers.get(connection, campaign["customer_id"])
        assert customer is not None
        window = operations.window_for(operations.contact_window(settings), customer)
        due = window.next_allowed(
            now + timedelta(seconds=settings.step_retry_delay), customer["timezone"]
        )
        await campaigns.retry_run(connection, run["id"], due, reason)
        return
    await campaigns.fail_run(connection, run["id"], reason)
    if settings.fail_campaign_on_step_failure:
        await operations.end(connection, campaign_id, Action.FAIL, f"step failed: {reason}", now)
    else:
        await operations.complete_if_done(connection, campaign_id, now)


async def reply_classified(connection: Connection, event: Envelope) -> None:
    """Keep what the customer meant, and act on it: promise, dispute, opt-out, already paid."""
    reply = event.read(ReplyClassified)
    customer = await customers.get(connection, reply.customer_id)
    if customer is None:
        return
    await replies.record(connection, event.event_id, event.occurred_at, reply)
    await operations.act_on_reply(connection, customer, reply, clock.now())


SUBSCRIPTIONS = (
    Subscription("task.completed", "task-completed", handler_of_many=tasks_completed),
    Subscription("task.failed", "task-failed", task_failed),
    Subscription("reply.classified", "reply-classified", reply_classified),
)
