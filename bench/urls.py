"""Bench-only routes, included under /bench/ by billing_project/urls.py when settings.BENCH_VIEWS is on."""

from django.urls import path

from bench.views import BareView

urlpatterns = [path("bare", BareView.as_view(), name="bench-bare")]
