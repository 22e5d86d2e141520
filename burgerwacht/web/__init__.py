"""The aiohttp service: app factory, problem details, typed routes and OpenAPI."""
