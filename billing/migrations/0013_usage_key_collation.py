"""The key table's columns compare by bytes (COLLATE "C"): memcmp instead of strcoll on every probe.

One ALTER for both columns, so the primary key's index is rebuilt once (the table is not rewritten:
the type is unchanged). On a large installation this holds the table's lock while the index is
rebuilt: ingest waits for it (see README, "Usage metering").
"""

from django.db import migrations, models

TABLE = "billing_usageeventkey"


def _alter(collation: str) -> str:
    return (
        f'ALTER TABLE {TABLE} ALTER COLUMN tenant_id TYPE varchar(64) COLLATE "{collation}", '
        f'ALTER COLUMN event_id TYPE varchar(128) COLLATE "{collation}"'
    )


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0012_usage_level_cumulative"),
    ]

    operations = [
        migrations.RunSQL(
            _alter("C"),
            reverse_sql=_alter("default"),
            state_operations=[
                migrations.AlterField(
                    model_name="usageeventkey",
                    name="event_id",
                    field=models.CharField(db_collation="C", max_length=128),
                ),
                migrations.AlterField(
                    model_name="usageeventkey",
                    name="tenant_id",
                    field=models.CharField(db_collation="C", max_length=64),
                ),
            ],
        ),
    ]
