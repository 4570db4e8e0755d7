"""Thin on purpose: the engine is the hivehealth plugin; the remedies live in fixes/."""
pytest_plugins = ["hivehealth.plugin", "fixes.disk", "fixes.units", "fixes.drbd", "fixes.services",
                  "fixes.registry", "fixes.swarm", "fixes.volumes", "fixes.time", "fixes.spread",
                  "fixes.inodes"]
