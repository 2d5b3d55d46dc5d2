"""Needs and tasks: post, claim, done, confirm, approve, reopen, escalate."""
