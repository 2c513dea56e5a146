"""OpenAPI extensions: the bearer-JWT security scheme for /api/schema and /api/docs."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class JWTAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "billing_project.auth.JWTAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "Claims: sub, role (finance|tenant|service), tenant_id (tenant role), exp.",
        }
