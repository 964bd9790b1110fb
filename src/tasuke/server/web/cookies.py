"""Cookie flags in one place: HttpOnly, SameSite=Strict, and Secure + ``__Host-`` over TLS."""

from starlette.responses import Response

from tasuke import limits
from tasuke.server.settings import Settings

__all__ = ["clear_cookie", "set_login_csrf_cookie", "set_session_cookie"]


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
