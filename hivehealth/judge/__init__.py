"""Judging: verdicts, the facts view a check reads, and the cluster objects."""
