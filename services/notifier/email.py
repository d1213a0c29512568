"""Email through SMTP (aiosmtplib) with the guide's settings: host, port, user, password, TLS."""

from __future__ import annotations

import html
from email.message import EmailMessage
from email.utils import make_msgid, parseaddr

import aiosmtplib

from shared.settings import Settings


class SmtpUnavailableError(RuntimeError):
    """SMTP connection failed; the message names host, port and TLS mode to check."""


def html_from_text(text: str) -> str:
    """The plain text as simple HTML: escaped paragraphs and line breaks."""
    paragraphs = (html.escape(part).replace("\n", "<br>") for part in text.split("\n\n"))
    return "".join(f"<p>{part}</p>" for part in paragraphs if part.strip())


async def send_email(
    settings: Settings,
    to: str,
    subject: str,
    text: str,
    markup: str | None = None,
    *,
    unsubscribe: bool = False,
) -> str:
    """Send one message, plain text and HTML; returns its Message-ID. Collection emails carry
    List-Unsubscribe (RFC 2369), pointing at the reply address."""
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain="remit")
    reply_to = settings.smtp_reply_to or parseaddr(settings.smtp_from)[1]
    message["Reply-To"] = reply_to
    if unsubscribe:
        message["List-Unsubscribe"] = f"<mailto:{reply_to}?subject=unsubscribe>"
    message.set_content(text)
    message.add_alternative(markup or html_from_text(text), subtype="html")
    try:
        await aiosmtplib.send(
            message,
            hostname=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_user,
            password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
            use_tls=settings.smtp_tls == "ssl",
            start_tls=settings.smtp_tls == "starttls",
            timeout=15,
        )
    except (aiosmtplib.SMTPConnectError, aiosmtplib.SMTPConnectTimeoutError, OSError) as error:
        raise SmtpUnavailableError(
            f"SMTP connection failed: {settings.smtp_host}:{settings.smtp_port} "
            f"(TLS mode {settings.smtp_tls}); check SMTP_HOST, SMTP_PORT and SMTP_TLS: {error}"
        ) from error
    return str(message["Message-ID"])
