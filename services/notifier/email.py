"""Email through SMTP (aiosmtplib): host, port, user, password and TLS from the settings.

A send has two halves. Until the message's data is handed over (connect, greeting, login,
sender, recipient), a failure means nothing was sent and another try is safe. Once the data
is on its way, a server that stalls or hangs up may have stored the message or not: the
outcome is unknown, and the message is never sent again (SmtpOutcomeUnknownError). Each half
has a deadline of SMTP_TIMEOUT_S. A message sent for an idempotency key always carries the same
Message-ID, so a copy that does reach the inbox twice is recognisable as the same message.
"""

from __future__ import annotations

import asyncio
import email.policy
import html
import uuid
from email.message import EmailMessage
from email.utils import make_msgid, parseaddr

import aiosmtplib

from services.notifier.settings import NotifierSettings

_MESSAGE_IDS = uuid.UUID("8f0cbb0e-6c55-4d4c-9a4e-2a8d1c1f6b7e")  # namespace of our Message-IDs


class SmtpUnavailableError(RuntimeError):
    """SMTP connection failed; the message names host, port and TLS mode to check."""


class SmtpOutcomeUnknownError(RuntimeError):
    """The server stalled or hung up after the message's data was sent: it may have it."""


def message_id_for(idempotency_key: str) -> str:
    """The Message-ID of the email sent for `idempotency_key`: the same on every try."""
    return f"<{uuid.uuid5(_MESSAGE_IDS, idempotency_key)}@remit>"


def html_from_text(text: str) -> str:
    """The plain text as simple HTML: escaped paragraphs and line breaks."""
    paragraphs = (html.escape(part).replace("\n", "<br>") for part in text.split("\n\n"))
    return "".join(f"<p>{part}</p>" for part in paragraphs if part.strip())


async def send_email(
    settings: NotifierSettings,
    to: str,
    subject: str,
    text: str,
    markup: str | None = None,
    *,
    unsubscribe: bool = False,
    message_id: str | None = None,
) -> str:
    """Send one message, plain text and HTML; returns its Message-ID. Collection emails carry
    List-Unsubscribe (RFC 2369), pointing at the reply address."""
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = message_id or make_msgid(domain="remit")
    reply_to = settings.smtp_reply_to or parseaddr(settings.smtp_from)[1]
    message["Reply-To"] = reply_to
    if unsubscribe:
        message["List-Unsubscribe"] = f"<mailto:{reply_to}?subject=unsubscribe>"
    message.set_content(text)
    message.add_alternative(markup or html_from_text(text), subtype="html")
    deadline = settings.smtp_timeout_s
    smtp = aiosmtplib.SMTP(
        hostname=settings.smtp_host,
        port=settings.smtp_port,
        username=settings.smtp_user,
        password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
        use_tls=settings.smtp_tls == "ssl",
        start_tls=settings.smtp_tls == "starttls",
        timeout=deadline,
    )
    try:
        try:
            async with asyncio.timeout(deadline):
                await smtp.connect()
                await smtp.mail(parseaddr(settings.smtp_from)[1])
                await smtp.rcpt(to)
        except aiosmtplib.SMTPResponseException:
            raise  # the server refused something (the address, the login): said as it is
        except (aiosmtplib.SMTPException, TimeoutError, OSError) as error:
            # Not connected, no greeting, no STARTTLS, hung up: nothing was sent yet.
            raise SmtpUnavailableError(
                f"SMTP connection failed: {settings.smtp_host}:{settings.smtp_port} "
                f"(TLS mode {settings.smtp_tls}); check SMTP_HOST, SMTP_PORT and SMTP_TLS: "
                f"{error!r}"
            ) from error
        try:
            async with asyncio.timeout(deadline):
                await smtp.data(message.as_bytes(policy=email.policy.SMTP))
        except (
            aiosmtplib.SMTPTimeoutError,
            aiosmtplib.SMTPServerDisconnected,
            TimeoutError,
            OSError,
        ) as error:
            raise SmtpOutcomeUnknownError(
                f"SMTP server did not acknowledge the message ({error!r}); it may have been "
                "delivered, so it is not sent again"
            ) from error
    finally:
        smtp.close()
    return str(message["Message-ID"])
