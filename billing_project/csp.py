"""Content-Security-Policy for the HTML the service serves: the admin and the API docs.

The admin is all same-origin (server-rendered SVG charts, Django's static JS, no CDN): scripts only
from 'self', no inline script, no framing. The docs page loads Swagger UI from the origin of
SWAGGER_UI_DIST (drf-spectacular) and its start-up script from /api/docs?script= (the split
view, so no inline script is needed there either). JSON answers carry no policy: nothing renders them.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from drf_spectacular.settings import spectacular_settings

BASE = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self' 'unsafe-inline'",  # the admin's and Swagger UI's style attributes
    "img-src": "'self' data:",
    "connect-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.netloc else ""


def policy_for(path: str) -> str | None:
    """Return the policy for an HTML page at `path`, or None when the path serves no HTML."""
    if path.startswith("/admin/"):
        directives = dict(BASE)
    elif path.startswith("/api/docs"):
        cdn = _origin(spectacular_settings.SWAGGER_UI_DIST)
        directives = dict(BASE)
        for name in ("script-src", "style-src", "img-src"):
            directives[name] = f"{directives[name]} {cdn}".strip()
    else:
        return None
    return "; ".join(f"{name} {value}" for name, value in directives.items())


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        policy = policy_for(request.path)
        if policy and "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = policy
        return response
