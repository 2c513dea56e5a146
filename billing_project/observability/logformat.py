"""Log formatting: JSON lines or text, and the request/task context every line carries.

Imported by settings.py (LOGGING), so it imports nothing from Django. `log_context` holds the
context of the request (see requestlog.py) or Celery task (see celery_logs.py) being served;
`ContextFilter` copies it onto every record. LOG_FORMAT=json writes JSON lines (python-json-logger)
with tracebacks as `exc_info`; LOG_FORMAT=text (the default) stays human.
"""

from __future__ import annotations

import contextvars
import logging

import pythonjsonlogger.json

CONTEXT_FIELDS = ("request_id", "tenant_id", "sub", "role", "path", "task_id", "task_name", "task_args")

log_context: contextvars.ContextVar[dict | None] = contextvars.ContextVar("billing_log_context", default=None)


class ContextFilter(logging.Filter):
    """Adds the current request/task context to every record (a field the call set itself wins)."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = log_context.get() or {}
        for name in CONTEXT_FIELDS:
            if not hasattr(record, name):
                setattr(record, name, context.get(name))
        return True


def logging_config(*, fmt: str, level: str, request_level: str) -> dict:
    """Return the LOGGING dict: one console handler, JSON lines or text, with the context filter."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": "billing_project.observability.logformat.ContextFilter"}},
        "formatters": {
            "json": {"()": "billing_project.observability.logformat.json_formatter"},
            "text": {"()": "billing_project.observability.logformat.text_formatter"},
        },
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "filters": ["context"],
                "formatter": "json" if fmt == "json" else "text",
            }
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "billing.request": {"level": request_level},
            "celery": {"level": "INFO"},
        },
    }


class TextFormatter(logging.Formatter):
    """The human format, with "[request id]" or "[task id]" after the logger name ("-" for neither)."""

    def format(self, record: logging.LogRecord) -> str:
        fields = record.__dict__
        record.context = fields.get("request_id") or (f"task {fields['task_id']}" if fields.get("task_id") else "-")
        return super().format(record)


class JsonFormatter(pythonjsonlogger.json.JsonFormatter):
    """JSON lines; context fields the line does not have are left out rather than written as null."""

    def process_log_record(self, log_data: dict) -> dict:
        for name in CONTEXT_FIELDS:
            if log_data.get(name) is None:
                log_data.pop(name, None)
        return log_data


def json_formatter() -> JsonFormatter:
    """Return the JSON-lines formatter: timestamp, level, logger, message, then the context and extras."""
    return JsonFormatter(
        "%(asctime)s %(levelname)s %(name)s %(message)s",
        rename_fields={"asctime": "timestamp", "levelname": "level", "name": "logger"},
        datefmt="%Y-%m-%dT%H:%M:%S%z",
    )


def text_formatter() -> TextFormatter:
    """Return the human formatter: `time LEVEL logger [request or task id] message`."""
    return TextFormatter("%(asctime)s %(levelname)s %(name)s [%(context)s] %(message)s")
