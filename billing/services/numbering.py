"""Gapless yearly document numbers (INV-YYYY-NNNNNN, CN-YYYY-NNNNNN): one sequence row per UTC year."""

from __future__ import annotations

from django.db import connection, models


def sequence_next(model: type[models.Model], year: int) -> int:
    """Return the next number of `year` in `model`'s sequence, holding that year's row until commit.

    Gapless: the row is bumped inside the caller's transaction, so a rollback undoes the bump too,
    and concurrent callers queue on the row lock and take consecutive numbers in commit order.
    One round trip (`UPDATE … RETURNING`, which takes the row lock) once the year's row exists.
    """
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f'UPDATE {table} SET "last_number" = "last_number" + 1 WHERE "year" = %s RETURNING "last_number"', [year]
        )
        row = cursor.fetchone()
    if row is not None:
        return row[0]
    seq, _ = model.objects.select_for_update().get_or_create(year=year)
    seq.last_number += 1
    seq.save(update_fields=["last_number"])
    return seq.last_number
