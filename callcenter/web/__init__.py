"""The aiohttp web application: API, dashboard, health and metrics."""
