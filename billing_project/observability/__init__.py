"""The operators' view: Prometheus metrics, structured logs, health probes and error reporting.

`metrics` holds the metric objects and the small `*_recorded` functions the rest of the code calls;
`collectors` computes queue lengths and backlogs at scrape time; `views` serves /metrics and the
health probes; `logs` the request-id middleware and the log formatters; `sentry` the optional
error reporting.
"""
