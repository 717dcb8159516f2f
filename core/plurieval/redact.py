"""Secrets in URIs: ``http://user:password@host`` works as a tracking URI, but the password is
never printed or stored. What is shown or written is ``http://user:***@host``; what is sent is
the URI without userinfo plus the credentials as HTTP basic auth."""

from __future__ import annotations

import re

# scheme://user[:password]@ — anywhere in a text (error messages quote URIs mid-sentence)
_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^/@:\s]*)(?::(?P<password>[^/@\s]*))?@")


def redact_uri(text: str) -> str:
    """Every ``scheme://user:password@`` in ``text`` becomes ``scheme://user:***@``."""
    return _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}{':***' if m['password'] is not None else ''}@", text)


def split_credentials(uri: str) -> tuple[str, str | None, str | None]:
    """``(uri without userinfo, user, password)``; user and password are ``None`` when absent.
    Percent-escapes in them (``p%40ss`` for ``p@ss``) are decoded."""
    from urllib.parse import unquote

    m = _USERINFO.match(uri)
    if m is None:
        return uri, None, None
    user = unquote(m["user"]) if m["user"] else None
    password = unquote(m["password"]) if m["password"] is not None else None
    return m["scheme"] + uri[m.end():], user, password
