"""Remedies: plans and tiers, the site lock, the audit log, the runner."""
