"""Bench-only views, routed (bench/urls.py) only when BENCH_VIEWS=1.

`BareView` is the floor the single-event endpoint is compared with: the same server, the same JWT
authentication, role permission and JSON parsing, and no work at all.
"""

from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView


class BareView(APIView):
    """Accept a JSON body and answer 201 without touching the database."""

    allowed_roles = {"finance", "tenant", "service"}

    def post(self, request):
        return Response({"event_id": request.data.get("event_id"), "duplicate": False}, status=status.HTTP_201_CREATED)
