"""Thin on purpose: the engine is the hivehealth plugin; remedies live in fixes/."""
pytest_plugins = ["hivehealth.plugin"]
