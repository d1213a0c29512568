"""Email through SMTP (aiosmtplib) with the guide's settings: host, port, user, password, TLS."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import make_msgid

import aiosmtplib

from shared.settings import Settings


class SmtpUnavailableError(RuntimeError):
    """SMTP connection failed; the message names host, port and TLS mode to check."""


async def send_email(
    settings: Settings, to: str, subject: str, text: str, html: str | None = None
) -> str:
    """Send one message; returns its Message-ID."""
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain="remit")
    message.set_content(text)
    if html is not None:
        message.add_alternative(html, subtype="html")
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
