"""The kube-proxy ConfigMaps (``KubeProxyConfig.raw``, ``extra_config_maps``) as ``json``
on PostgreSQL too (``WholeJSONField``, as 0005 did for every object's ``raw``): an export
then reads back key for key what was imported, on every database."""

from django.db import migrations

import cluster.models.jsontext

COLUMNS = ("raw", "extra_config_maps")


def _retype(to: str):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for column in COLUMNS:
            schema_editor.execute(
                f'ALTER TABLE "cluster_kubeproxyconfig" ALTER COLUMN "{column}"'
                f' TYPE {to} USING "{column}"::{to}'
            )

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("cluster", "0006_cluster_rows_without_fk_constraint"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(_retype("json"), _retype("jsonb"))],
            state_operations=[
                migrations.AlterField(
                    model_name="kubeproxyconfig",
                    name="raw",
                    field=cluster.models.jsontext.WholeJSONField(
                        blank=True, help_text="The ConfigMap; null when absent.", null=True
                    ),
                ),
                migrations.AlterField(
                    model_name="kubeproxyconfig",
                    name="extra_config_maps",
                    field=cluster.models.jsontext.WholeJSONField(
                        blank=True,
                        default=list,
                        help_text="Other kube-system ConfigMaps kube-proxy Pods mount (e.g. a"
                        " second DaemonSet's during a mode migration), kept as found.",
                    ),
                ),
            ],
        ),
    ]
