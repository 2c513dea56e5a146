"""python manage.py load_catalog FILE [--prune]: upsert metrics, plans and charges from JSON/YAML."""

from django.core.management.base import BaseCommand, CommandError

from billing.services.catalog import CatalogError, catalog_load, catalog_read_file


class Command(BaseCommand):
    help = "Load the catalog (metrics, plans, charges) from a JSON or YAML file; idempotent."

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--prune", action="store_true", help="Deactivate active plans absent from the file.")

    def handle(self, *args, file, prune, **options):
        try:
            data = catalog_read_file(file)
            result = catalog_load(data=data, prune=prune, progress=lambda m: self.stdout.write(f"  {m}"))
        except FileNotFoundError:
            raise CommandError(f"No such file: {file}") from None
        except CatalogError as exc:
            raise CommandError("The catalog is invalid:\n  - " + "\n  - ".join(exc.errors)) from None
        self.stdout.write(
            self.style.SUCCESS(
                f"Catalog loaded: metrics {result.metrics_created} created / {result.metrics_updated} updated, "
                f"plans {result.plans_created} created / {result.plans_updated} updated"
                + (f", deactivated: {', '.join(result.plans_deactivated)}" if result.plans_deactivated else "")
            )
        )
