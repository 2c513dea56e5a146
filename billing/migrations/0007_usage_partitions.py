"""Monthly partitions of the usage events and the unpartitioned key table deciding exactly-once.

Converts an existing installation in one transaction: the old table is renamed, the partitioned one
created (one partition per month its rows fall in, the current and next months, a default
partition), every row copied and keyed, the counts checked, the old table dropped
(`billing.services.usage_partitions.usage_events_partition`). Irreversible.
"""

from django.db import migrations, models


def partition(apps, schema_editor):
    from billing.services.usage_partitions import usage_events_partition

    usage_events_partition(
        schema_editor, apps.get_model("billing", "UsageEvent"), apps.get_model("billing", "UsageEventKey")
    )


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0006_pricing_terms"),
    ]

    operations = [
        migrations.CreateModel(
            name="UsageEventKey",
            fields=[
                (
                    "pk",
                    models.CompositePrimaryKey(
                        "tenant_id", "event_id", blank=True, editable=False, primary_key=True, serialize=False
                    ),
                ),
                ("tenant_id", models.CharField(max_length=64)),
                ("event_id", models.CharField(max_length=128)),
                ("timestamp", models.DateTimeField()),
            ],
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveConstraint(model_name="usageevent", name="usage_event_unique_per_tenant"),
            ],
            database_operations=[migrations.RunPython(partition, elidable=False)],
        ),
    ]
