"""Thin on purpose: the engine is the hivehealth plugin (pytest.ini loads it); the areas' checks
and remedies are modules of hivehealth/checks and hivehealth/fixes, which the plugin finds itself."""
