"""Cookie flags in one place: HttpOnly, SameSite=Strict, and Secure + ``__Host-`` over TLS."""

from starlette.responses import Response

from tasuke import limits
from tasuke.server.settings import Settings

__all__ = [
    "clear_cookie",
    "set_login_csrf_cookie",
    "set_session_cookie",
    "set_trusted_cookie",
    "trusted_cookie_name",
]


def _set(response: Response, settings: Settings, name: str, value: str, max_age: int) -> None:
    # __Host- requires Secure, Path=/ and no Domain: the cookie is pinned to this exact host.
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        secure=settings.secure,
        httponly=True,
        samesite="strict",
    )


def set_session_cookie(response: Response, settings: Settings, token: str) -> None:
    """Attach the sign-in cookie."""
    _set(response, settings, settings.session_cookie, token, limits.SESSION_COOKIE_TTL)


def set_login_csrf_cookie(response: Response, settings: Settings, token: str) -> None:
    """Attach the login form's CSRF cookie (double submit: cookie and form field must match)."""
    _set(response, settings, settings.login_csrf_cookie, token, limits.LOGIN_CSRF_TTL)


def clear_cookie(response: Response, settings: Settings, name: str) -> None:
    """Remove a cookie with the same flags it was set with."""
    response.delete_cookie(name, path="/", secure=settings.secure, httponly=True, samesite="strict")


def trusted_cookie_name(settings: Settings) -> str:
    """Name of the long-lived cookie of a browser trusted to skip the second factor."""
    return "__Host-tasuke_trusted" if settings.secure else "tasuke_trusted"


def set_trusted_cookie(response: Response, settings: Settings, token: str) -> None:
    """Attach the trusted-browser cookie (it only skips the second factor, never the password)."""
    max_age = limits.TRUSTED_BROWSER_DAYS * 86400
    _set(response, settings, trusted_cookie_name(settings), token, max_age)
