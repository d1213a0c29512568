"""Campaigns service: Customers, payment records, campaigns of escalation steps and their scheduler."""
