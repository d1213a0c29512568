"""Notifier service: SMS, voice and email via Twilio and SMTP, with the suppression list."""
