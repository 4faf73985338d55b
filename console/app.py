"""The Streamlit console: sign in, then the pages your role may use.

Run with ``greenroom console`` (or ``greenroom up``). It never opens the data
directory: every read and write goes through the server's API with the
signed-in person's token, and the server enforces every permission. Pages a
role cannot use are hidden, not merely refused.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

import streamlit as st

from console import views
from console.api import Api, ApiError
from console.views.common import md


def _server_url() -> str:
    parser = argparse.ArgumentParser()
    parser.add_argument("--server-url", default="http://127.0.0.1:8400")
    args, _ = parser.parse_known_args(sys.argv[1:])
    return str(args.server_url)


def _login(server_url: str) -> None:
    st.title("Greenroom")
    st.caption("Trust and safety console")
    with st.form("login"):
        handle = st.text_input("Handle")
        password = st.text_input("Password", type="password")
        submitted = st.form_submit_button("Sign in")
    if submitted:
        api = Api(server_url)
        try:
            user = api.login(handle, password)
        except ApiError as exc:
            st.error(md(exc.message))
            return
        st.session_state["token"] = api.token
        st.session_state["user"] = user
        st.rerun()


def main() -> None:
    st.set_page_config(page_title="Greenroom", layout="wide")
    server_url = _server_url()
    if "token" not in st.session_state:
        _login(server_url)
        return
    api = Api(server_url, st.session_state["token"])
    user = st.session_state["user"]
    available: list[tuple[str, Callable[[Api, dict], None]]] = [
        (title, render) for title, render, allowed in views.PAGES if user["role"] in allowed
    ]
    with st.sidebar:
        st.markdown(
            f"**@{md(user['handle'])}** · {md(user['role'])}"
            + (" · teen" if user.get("is_teen") else "")
        )
        choice = st.radio("Pages", [title for title, _ in available], label_visibility="collapsed")
        if st.button("Sign out"):
            # The server revokes the session token; a token it already refuses needs nothing.
            api.logout()
            st.session_state.clear()
            st.rerun()
    for title, render in available:
        if title == choice:
            try:
                render(api, user)
            except ApiError as exc:
                if exc.status == 401:
                    st.session_state.clear()
                    st.warning("Your session ended; sign in again.")
                else:
                    st.error(md(exc.message))


main()
