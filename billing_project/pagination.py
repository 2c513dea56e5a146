"""Limit/offset pagination: `{"count", "next", "previous", "results"}`, default 50, at most 500."""

from rest_framework import pagination


class LimitOffsetPagination(pagination.LimitOffsetPagination):
    default_limit = 50
    max_limit = 500
