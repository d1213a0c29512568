"""Getting a message out: Twilio (official SDK, async) for SMS and calls, SMTP for email, or
the local simulator when no Twilio credentials are set. A provider fault becomes a `SendError`
whose reason names the fault (Twilio unreachable or silent, bad credentials, an invalid or
opted-out number, an SMTP refusal, …) and says whether another try may succeed, so a failed
message tells the operator what went wrong and what to do."""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass

import aiohttp
import aiosmtplib
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client
from twilio.twiml.voice_response import VoiceResponse

from services.notifier.email import (
    SmtpOutcomeUnknownError,
    SmtpUnavailableError,
    message_id_for,
    send_email,
)
from services.notifier.settings import NotifierSettings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Sent:
    provider_id: str
    simulated: bool


class SendError(Exception):
    """The provider refused or failed; `retryable` says whether another try may succeed.

    `unknown`: the provider may have the message (it stalled or hung up after taking it), so
    nobody may send it again; a person decides. `refused`: the provider refused the recipient
    for good (Twilio's invalid-number errors), as the checks refuse one."""

    def __init__(
        self,
        reason: str,
        *,
        retryable: bool,
        bounced: bool = False,
        unknown: bool = False,
        refused: bool = False,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable and not unknown and not refused
        self.bounced = bounced
        self.unknown = unknown
        self.refused = refused


def call_twiml(script: str, gather_url: str) -> str:
    """Speak the agent's script and gather a key press or speech."""
    response = VoiceResponse()
    gather = response.gather(input="dtmf speech", num_digits=1, action=gather_url, timeout=6)
    gather.say(script)
    response.say("We did not receive an answer. Goodbye.")
    return str(response)


class Providers:
    def __init__(self, settings: NotifierSettings) -> None:
        self.settings = settings
        self._twilio: Client | None = None

    async def close(self) -> None:
        if self._twilio is not None:
            http = self._twilio.http_client
            if isinstance(http, AsyncTwilioHttpClient):
                await http.close()
            self._twilio = None

    @property
    def simulated(self) -> bool:
        return not (self.settings.twilio_account_sid and self.settings.twilio_auth_token)

    def _client(self) -> Client:
        if self._twilio is None:
            token = self.settings.twilio_auth_token
            assert token is not None
            self._twilio = Client(
                self.settings.twilio_account_sid,
                token.get_secret_value(),
                http_client=AsyncTwilioHttpClient(),
            )
            if self.settings.twilio_api_url:
                self._twilio.api.base_url = self.settings.twilio_api_url
        return self._twilio

    async def send(
        self,
        channel: str,
        to: str,
        subject: str | None,
        body: str,
        idempotency_key: str,
        *,
        html: str | None = None,
        collection: bool = True,
    ) -> Sent:
        """Send one message. Email gets the Message-ID of its idempotency key and, when it is
        a collection message, List-Unsubscribe."""
        if channel == "email":
            return await self._email(
                to, subject or "", body, message_id_for(idempotency_key), html, collection
            )
        if self.simulated:
            return Sent(f"SIM{uuid.uuid4().hex}", simulated=True)
        return await self._twilio_send(channel, to, body)

    async def _email(
        self,
        to: str,
        subject: str,
        body: str,
        message_id: str,
        html: str | None,
        collection: bool,
    ) -> Sent:
        try:
            await send_email(
                self.settings,
                to,
                subject,
                body,
                html,
                unsubscribe=collection,
                message_id=message_id,
            )
        except SmtpUnavailableError as error:
            raise SendError(str(error), retryable=True) from error
        except SmtpOutcomeUnknownError as error:
            raise SendError(str(error), retryable=False, unknown=True) from error
        except aiosmtplib.SMTPRecipientRefused as error:
            # Only a permanent (5xx) refusal of the address is a bounce; 4xx may pass later.
            permanent = 500 <= error.code < 600
            raise SendError(
                f"SMTP refused the address: {error}", retryable=not permanent, bounced=permanent
            ) from error
        except aiosmtplib.SMTPResponseException as error:
            # Not about the recipient (a refused login or sender): never suppress anyone for it.
            raise SendError(
                f"SMTP {error.code}: {error.message}", retryable=error.code < 500
            ) from error
        return Sent(message_id, simulated=False)

    async def _twilio_send(self, channel: str, to: str, body: str) -> Sent:
        sender = self.settings.twilio_from_number
        callback = f"{self.settings.public_url}/api/v1/webhooks/twilio/status"
        for attempt in range(self.settings.provider_max_retries + 1):
            try:
                if channel == "sms":
                    created = await self._client().messages.create_async(
                        to=to, from_=sender, body=body, status_callback=callback
                    )
                else:
                    twiml = call_twiml(
                        body, f"{self.settings.public_url}/api/v1/webhooks/twilio/voice/gather"
                    )
                    created = await self._client().calls.create_async(
                        to=to, from_=sender, twiml=twiml, status_callback=callback
                    )
                return Sent(str(created.sid), simulated=False)
            except aiohttp.ClientConnectorError as error:
                # Not connected: Twilio never saw the request, another try is safe.
                raise SendError(f"Twilio unreachable: {error}", retryable=True) from error
            except (aiohttp.ClientError, TimeoutError) as error:
                raise SendError(
                    f"Twilio did not answer ({error!r}); the message may have been sent, so it "
                    "is not sent again",
                    retryable=False,
                    unknown=True,
                ) from error
            except TwilioRestException as error:
                if error.status == 401 or error.code == 20003:
                    raise SendError(
                        "Twilio Authentication Error (20003): "
                        "check TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN",
                        retryable=False,
                    ) from error
                if error.code == 21211 or error.code == 21614:
                    raise SendError(
                        f"Invalid phone number ({error.code}): {error.msg}",
                        retryable=False,
                        refused=True,
                    ) from error
                if error.code == 21610:
                    # The recipient replied STOP to the sender (the carrier blocks the number):
                    # no retry will reach them until they opt in again.
                    raise SendError(
                        f"Recipient opted out (21610): {error.msg}",
                        retryable=False,
                        refused=True,
                    ) from error
                transient = error.status == 429 or error.code == 20429 or error.status >= 500
                if not transient:
                    raise SendError(
                        f"Twilio error {error.code}: {error.msg}", retryable=False
                    ) from error
                if attempt == self.settings.provider_max_retries:
                    raise SendError(
                        f"Twilio rate limit or outage ({error.code or error.status}) "
                        f"after {attempt + 1} tries",
                        retryable=True,
                    ) from error
                await asyncio.sleep(min(0.2 * 2**attempt, 5.0))
        raise AssertionError("unreachable")
