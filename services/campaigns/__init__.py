"""Campaigns service: customers, payment records, campaigns of escalation steps, scheduler."""
