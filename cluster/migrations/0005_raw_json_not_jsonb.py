"""Each object's ``raw`` column as ``json`` on PostgreSQL (``WholeJSONField``).

The state change is the field class; the database change is PostgreSQL's alone (elsewhere
the column type is the same, so no table is rebuilt). The rewrite holds each table's lock
for as long as converting its rows takes.
"""

from django.db import migrations

import cluster.models.jsontext

TABLES = (
    "cluster_node",
    "cluster_service",
    "cluster_endpointslice",
    "cluster_endpoint",
    "cluster_pod",
)


def _retype(to: str):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for table in TABLES:
            schema_editor.execute(
                f'ALTER TABLE "{table}" ALTER COLUMN "raw" TYPE {to} USING "raw"::{to}'
            )

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("cluster", "0004_search_indexes"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(_retype("json"), _retype("jsonb"))],
            state_operations=[
                migrations.AlterField(
                    model_name=model,
                    name="raw",
                    field=cluster.models.jsontext.WholeJSONField(),
                )
                for model in ("node", "service", "endpointslice", "endpoint", "pod")
            ],
        ),
    ]
