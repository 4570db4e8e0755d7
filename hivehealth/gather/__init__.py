"""Gathering: the one probe per server, the sections each area declares, recordings."""
