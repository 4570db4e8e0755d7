"""The site: a hive project's servers and roles, and how each is reached."""
