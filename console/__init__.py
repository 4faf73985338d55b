"""The Streamlit console: pages for moderators, rights holders, cameo owners, policy authors, admins.

Talks to the server through its own API client only.
"""
