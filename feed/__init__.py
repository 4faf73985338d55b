"""The server: FastAPI app for app clients and the console, authentication, roles, ranking.

May import pipeline and store.
"""
