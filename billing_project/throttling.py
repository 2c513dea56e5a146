"""Per-role rate limits, off unless RATE_LIMIT_<ROLE> is configured (e.g. "100/min")."""

from rest_framework.throttling import SimpleRateThrottle


class RoleRateThrottle(SimpleRateThrottle):
    """Throttle by caller `sub`, with the rate of the caller's role."""

    def allow_request(self, request, view):
        role = getattr(request.user, "role", None)
        rates = self.THROTTLE_RATES
        if not role or not rates.get(role):
            return True
        self.scope = role
        self.rate = rates[role]
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)

    def __init__(self):  # rate is chosen per request, not at construction
        pass

    def get_cache_key(self, request, view):
        return f"throttle_{self.scope}_{request.user.sub}"
