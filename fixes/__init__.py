"""The runbook's remedies, one module per runbook area; each remedy is a pytest fixture."""
