"""Binary downloads through DRF: the PDF renderer and the base view of every PDF endpoint; `json_response`.

DRF negotiates the response's media type from `Accept` against the view's renderers; with only the
JSON renderer, a client asking for exactly `application/pdf` got 406. A PDF view lists the PDF
renderer first (so `application/pdf`, `*/*` and no Accept all get the PDF) and answers its errors
(404, 401, …) in the one JSON error shape whatever was negotiated.

`json_response` is the hot path's answer (a single usage event): the bytes DRF's JSONRenderer
would write, serialised by orjson, without the template-response machinery.
"""

from __future__ import annotations

import orjson
from django.http import HttpResponse
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView


class PdfRenderer(BaseRenderer):
    """Pass already-rendered PDF bytes through as `application/pdf`."""

    media_type = "application/pdf"
    format = "pdf"
    charset = None
    render_style = "binary"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data


class PdfDownloadView(APIView):
    """Base of every endpoint that serves a PDF (invoice, credit note, …)."""

    renderer_classes = [PdfRenderer, JSONRenderer]

    @staticmethod
    def pdf_response(pdf: bytes, filename: str) -> Response:
        """Return `pdf` as an attachment named `filename`."""
        response = Response(pdf, content_type="application/pdf")
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        response["Content-Length"] = str(len(pdf))
        return response

    def finalize_response(self, request, response, *args, **kwargs):
        # The PDF is the only success body; anything else (an error) is JSON in the one error shape,
        # and the PDF is served even to a client that only listed application/json (as it always was).
        binary = isinstance(getattr(response, "data", None), bytes | bytearray)
        renderer = PdfRenderer() if binary else JSONRenderer()
        request.accepted_renderer, request.accepted_media_type = renderer, renderer.media_type
        return super().finalize_response(request, response, *args, **kwargs)


def json_response(request, data: dict, status: int) -> HttpResponse:
    """Return `data` (str, bool, int and None values) as DRF's JSONRenderer renders it, with `status`.

    A request that negotiated anything but plain `application/json` (e.g. `; indent=4`) gets DRF's
    own Response. Like JSONRenderer (UNICODE_JSON, COMPACT_JSON), non-ASCII is written as is and
    U+2028/U+2029 are escaped.
    """
    if getattr(request, "accepted_media_type", None) != JSONRenderer.media_type:
        return Response(data, status=status)
    body = orjson.dumps(data)
    if b"\xe2\x80" in body:
        body = body.replace(b"\xe2\x80\xa8", b"\\u2028").replace(b"\xe2\x80\xa9", b"\\u2029")
    return HttpResponse(body, status=status, content_type=JSONRenderer.media_type)
