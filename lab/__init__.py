"""hive lab: a real multi-server hive-builder site on one machine (see lab/README.md)."""
