"""aiohttp: REST API (and later the web pages). aiohttp is imported here only."""
