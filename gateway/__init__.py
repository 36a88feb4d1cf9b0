"""Accord's network edge: FastAPI HTTP API, WebSocket rooms, auth, web pages and the CLI."""
