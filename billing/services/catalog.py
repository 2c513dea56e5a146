"""Load the catalog (metrics, plans, charges) from the contract's JSON/YAML format, idempotently."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

from django.db import transaction

from billing.models import Charge, Metric, Plan
from billing.pricing.charge_models import ChargeSpec, Tier, validate_charge
from billing.services.usage_dims import usage_dimensions_sync
from billing.services.usage_levels import usage_levels_adopt
from billing_project.money import is_valid_currency

CODE_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
AGGREGATIONS = {"sum", "count", "max", "unique_count", "latest", "weighted_sum"}
MODELS = {"per_unit", "graduated", "volume", "package"}


class CatalogError(Exception):
    """The catalog file is invalid; `errors` names each offending item."""

    def __init__(self, errors: list[str]):
        super().__init__("\n".join(errors))
        self.errors = errors


@dataclass
class CatalogLoadResult:
    metrics_created: int = 0
    metrics_updated: int = 0
    plans_created: int = 0
    plans_updated: int = 0
    plans_deactivated: list[str] = field(default_factory=list)
    #: Metrics whose priced keys (filter property keys) changed: their open periods were re-aggregated.
    dimensions_rebuilt: list[str] = field(default_factory=list)


def catalog_read_file(path: str | Path) -> dict:
    """Return the parsed catalog file (JSON, or YAML by extension)."""
    path = Path(path)
    text = path.read_text()
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except Exception as exc:  # noqa: BLE001 - any parse failure is a catalog error
        raise CatalogError([f"{path.name}: cannot parse: {exc}"]) from None
    if not isinstance(data, dict):
        raise CatalogError([f"{path.name}: the top level must be an object with 'metrics' and 'plans'"])
    return data


def _decimal(value, where: str, errors: list[str], *, allow_none=False, minimum=Decimal(0)) -> Decimal | None:
    if value is None:
        if not allow_none:
            errors.append(f"{where}: is required")
        return None
    try:
        dec = Decimal(str(value))
    except (InvalidOperation, ValueError):
        errors.append(f"{where}: '{value}' is not a decimal number")
        return None
    if not dec.is_finite():
        errors.append(f"{where}: '{value}' is not a finite number")
        return None
    if dec < minimum:
        errors.append(f"{where}: must not be negative (got {value})")
        return None
    return dec


def _charge_fields(raw: dict, where: str, errors: list[str]) -> dict | None:
    """Return validated model fields of one charge, appending messages to `errors`."""
    model = raw.get("model")
    if model not in MODELS:
        errors.append(f"{where}: model must be one of {', '.join(sorted(MODELS))} (got {model!r})")
        return None
    n = len(errors)
    free_units = _decimal(raw.get("free_units", "0"), f"{where}.free_units", errors)
    fields = {
        "model": model,
        "free_units": free_units or Decimal(0),
        "unit_price": None,
        "package_size": None,
        "package_price": None,
        "tiers": [],
    }
    tiers: list[Tier] = []
    if model == "per_unit":
        fields["unit_price"] = _decimal(raw.get("unit_price"), f"{where}.unit_price", errors)
    elif model == "package":
        fields["package_size"] = _decimal(raw.get("package_size"), f"{where}.package_size", errors)
        fields["package_price"] = _decimal(raw.get("package_price"), f"{where}.package_price", errors)
        if fields["package_size"] is not None and fields["package_size"] <= 0:
            errors.append(f"{where}.package_size: must be greater than 0")
    else:
        raw_tiers = raw.get("tiers")
        if not isinstance(raw_tiers, list) or not raw_tiers:
            errors.append(f"{where}.tiers: a {model} charge needs a non-empty list of tiers")
        else:
            for i, t in enumerate(raw_tiers):
                tw = f"{where}.tiers[{i}]"
                if not isinstance(t, dict):
                    errors.append(f"{tw}: must be an object")
                    continue
                up_to = _decimal(t.get("up_to"), f"{tw}.up_to", errors, allow_none=True)
                price = _decimal(t.get("unit_price"), f"{tw}.unit_price", errors)
                flat = _decimal(t.get("flat_fee", "0"), f"{tw}.flat_fee", errors)
                tiers.append(Tier(up_to=up_to, unit_price=price or Decimal(0), flat_fee=flat or Decimal(0)))
                fields["tiers"].append(
                    {
                        "up_to": None if t.get("up_to") is None else str(t.get("up_to")),
                        "unit_price": str(t.get("unit_price")),
                        **({"flat_fee": str(t["flat_fee"])} if t.get("flat_fee") is not None else {}),
                    }
                )
    if len(errors) > n:
        return None
    spec = ChargeSpec(
        model=model,
        unit_price=fields["unit_price"],
        free_units=fields["free_units"],
        package_size=fields["package_size"],
        package_price=fields["package_price"],
        tiers=tuple(tiers),
    )
    for message in validate_charge(spec):
        errors.append(f"{where}: {message}")
    fields["filters"] = _filters(raw["filters"], where, errors) if "filters" in raw else []
    return fields if len(errors) == n else None


def _filters(raw_filters, where: str, errors: list[str]) -> list[dict]:
    """Return a charge's validated filters in stored form (``_charge_fields`` plus name and properties)."""
    if not isinstance(raw_filters, list):
        errors.append(f"{where}.filters: must be a list")
        return []
    out: list[dict] = []
    names: set[str] = set()
    for i, f in enumerate(raw_filters):
        name = f.get("name") if isinstance(f, dict) else None
        fw = f"{where}.filters[{i}] ({name or '?'})"
        if not isinstance(f, dict):
            errors.append(f"{fw}: must be an object")
            continue
        if not isinstance(name, str) or not name.strip() or len(name) > 100:
            errors.append(f"{fw}.name: a name of 1–100 characters is required")
        elif name in names:
            errors.append(f"{fw}.name: filter names are unique within a charge")
        names.add(name)
        props = f.get("properties")
        if not isinstance(props, dict) or not props:
            errors.append(f"{fw}.properties: an object of {{key: [values]}} with at least one key is required")
            props = {}
        for key, values in props.items():
            if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
                errors.append(f"{fw}.properties.{key}: a non-empty list of string values is required")
        if "filters" in f:
            errors.append(f"{fw}.filters: a filter cannot have filters")
        fields = _charge_fields({k: v for k, v in f.items() if k not in ("name", "properties", "filters")}, fw, errors)
        if fields is not None:
            del fields["filters"]
            out.append({"name": name, "properties": {k: list(v) for k, v in props.items()}, **_stored(fields)})
    return out


def _stored(fields: dict) -> dict:
    """Return a charge's pricing fields as JSON-safe strings (how filters and overrides keep them)."""
    return {k: (str(v) if isinstance(v, Decimal) else v) for k, v in fields.items()}


def charge_filters_validate(raw, where: str) -> list[dict]:
    """Return a charge's filters validated and in stored form, or raise CatalogError naming each filter."""
    errors: list[str] = []
    filters = _filters(raw, where, errors)
    if errors:
        raise CatalogError(errors)
    return filters


def charge_fields_validate(raw, where: str) -> dict:
    """Return one charge's pricing fields (and filters) validated like the catalog's, as JSON strings.

    Raises CatalogError naming each problem from `where` on (a price override's charges use this).
    """
    errors: list[str] = []
    fields = _charge_fields(raw, where, errors) if isinstance(raw, dict) else None
    if errors or fields is None:
        raise CatalogError(errors or [f"{where}: must be an object"])
    filters = fields.pop("filters")
    return {**_stored(fields), "filters": filters}


def _metrics_validate(metrics_raw: list, errors: list[str]) -> tuple[list[dict], set[str]]:
    """Return (metrics, their codes) normalised from `metrics_raw`, appending each problem to `errors`."""
    metrics: list[dict] = []
    codes: set[str] = set()
    for i, m in enumerate(metrics_raw):
        code = m.get("code") if isinstance(m, dict) else None
        where = f"metrics[{i}] ({code or '?'})"
        if not isinstance(m, dict) or not isinstance(code, str) or not CODE_RE.match(code):
            errors.append(f"{where}: code must be 1–64 characters of [A-Za-z0-9_.-]")
            continue
        if code in codes:
            errors.append(f"{where}: duplicate metric code")
        agg = m.get("aggregation")
        if agg not in AGGREGATIONS:
            errors.append(f"{where}: aggregation must be one of {', '.join(sorted(AGGREGATIONS))} (got {agg!r})")
        if agg == "unique_count" and not m.get("field"):
            errors.append(f"{where}: a unique_count metric needs 'field'")
        codes.add(code)
        metrics.append(
            {
                "code": code,
                "name": m.get("name") or code,
                "unit": m.get("unit") or "",
                "aggregation": agg,
                "field": m.get("field") or "",
            }
        )
    return metrics, codes


def _plan_charges_validate(charges_raw: list, where: str, known_metrics: set[str], errors: list[str]) -> list[dict]:
    """Return a plan's charges normalised from `charges_raw`, appending each problem to `errors`."""
    charges = []
    seen_metrics: set[str] = set()
    for j, c in enumerate(charges_raw):
        metric = c.get("metric") if isinstance(c, dict) else None
        cw = f"{where}.charges[{j}] ({metric or '?'})"
        if not isinstance(c, dict):
            errors.append(f"{cw}: must be an object")
            continue
        if metric not in known_metrics:
            errors.append(f"{cw}: unknown metric '{metric}'")
            continue
        if metric in seen_metrics:
            errors.append(f"{cw}: a plan has at most one charge per metric")
        seen_metrics.add(metric)
        fields = _charge_fields(c, cw, errors)
        if fields:
            charges.append({"metric_id": metric, "position": j, **fields})
    return charges


def _plan_validate(p, where: str, known_metrics: set[str], errors: list[str]) -> dict:
    """Return one plan (with a valid id) normalised from `p`, appending each problem to `errors`."""
    currency = p.get("currency")
    if not isinstance(currency, str) or not is_valid_currency(currency):
        errors.append(f"{where}.currency: '{currency}' is not an ISO 4217 currency code")
    interval = p.get("interval", "month")
    if interval not in ("month", "year"):
        errors.append(f"{where}.interval: must be 'month' or 'year' (got {interval!r})")
    base_price = _decimal(p.get("base_price", "0"), f"{where}.base_price", errors)
    minimum = _decimal(p.get("minimum_amount"), f"{where}.minimum_amount", errors, allow_none=True)
    trial_days = p.get("trial_days", 0)
    if not isinstance(trial_days, int) or isinstance(trial_days, bool) or trial_days < 0:
        errors.append(f"{where}.trial_days: must be a whole number ≥ 0")
    charges = _plan_charges_validate(p.get("charges") or [], where, known_metrics, errors)
    return {
        "id": p["id"],
        "name": p.get("name") or p["id"],
        "description": p.get("description") or "",
        "currency": currency,
        "interval": interval,
        "base_price": base_price,
        "trial_days": trial_days,
        "minimum_amount": minimum,
        "active": p.get("active", True),
        "charges": charges,
    }


def catalog_validate(data: dict) -> tuple[list[dict], list[dict]]:
    """Return (metrics, plans) normalised from `data`, or raise CatalogError listing every problem."""
    errors: list[str] = []
    metrics_raw = data.get("metrics", [])
    plans_raw = data.get("plans", [])
    if not isinstance(metrics_raw, list) or not isinstance(plans_raw, list):
        raise CatalogError(["'metrics' and 'plans' must be lists"])
    metrics, codes = _metrics_validate(metrics_raw, errors)
    known_metrics = codes | set(Metric.objects.values_list("code", flat=True))
    plans: list[dict] = []
    plan_ids: set[str] = set()
    for i, p in enumerate(plans_raw):
        pid = p.get("id") if isinstance(p, dict) else None
        where = f"plans[{i}] ({pid or '?'})"
        if not isinstance(p, dict) or not isinstance(pid, str) or not CODE_RE.match(pid):
            errors.append(f"{where}: id must be 1–64 characters of [A-Za-z0-9_.-]")
            continue
        if pid in plan_ids:
            errors.append(f"{where}: duplicate plan id")
        plan_ids.add(pid)
        plans.append(_plan_validate(p, where, known_metrics, errors))
    if errors:
        raise CatalogError(errors)
    return metrics, plans


@transaction.atomic
def catalog_load(*, data: dict, prune: bool = False, progress=None) -> CatalogLoadResult:
    """Return what changed after upserting the catalog `data` (by code); `prune` deactivates absent plans."""
    metrics, plans = catalog_validate(data)
    result = CatalogLoadResult()
    say = progress or (lambda msg: None)
    previous = dict(Metric.objects.values_list("code", "aggregation"))
    for m in metrics:
        _, created = Metric.objects.update_or_create(code=m["code"], defaults=m)
        result.metrics_created += created
        result.metrics_updated += not created
    say(f"metrics: {len(metrics)} loaded")
    for n, p in enumerate(plans, 1):
        charges = p.pop("charges")
        plan, created = Plan.objects.update_or_create(id=p["id"], defaults=p)
        result.plans_created += created
        result.plans_updated += not created
        plan.charges.exclude(metric_id__in=[c["metric_id"] for c in charges]).delete()
        for c in charges:
            Charge.objects.update_or_create(plan=plan, metric_id=c["metric_id"], defaults=c)
        say(f"plans: {n}/{len(plans)} ({plan.id}, {len(charges)} charges)")
    if prune:
        stale = Plan.objects.filter(active=True).exclude(id__in=[p["id"] for p in plans])
        result.plans_deactivated = list(stale.values_list("id", flat=True))
        stale.update(active=False)
    result.dimensions_rebuilt = usage_dimensions_sync()
    usage_levels_adopt(previous)  # a metric that became a level metric: fold its events
    return result
