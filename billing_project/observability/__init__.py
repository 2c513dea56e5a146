"""The operators' view: Prometheus metrics, structured logs, health probes and error reporting.

`metrics` holds the metric objects and the small `*_recorded` functions the rest of the code calls;
`collectors` computes queue lengths and backlogs at scrape time; `views` serves /metrics and the
health probes; `requestlog` the request-id middleware, `logformat` the log formats and context,
`celery_logs` the Celery task context; `sentry` the optional error reporting.
"""
