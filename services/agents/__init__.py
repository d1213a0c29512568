"""Agents service: AI and human agents and the task queue they work."""
