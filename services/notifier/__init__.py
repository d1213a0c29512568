"""Notifier service: SMS, voice and email delivery through Twilio and SMTP, with the suppression list."""
