from typing import Any

from django.apps import AppConfig


def rollback_request(**kwargs: Any) -> Any:
    """The jobs API's rollback hook: ``cluster.apply.rollback_request``, imported on the
    first rollback. ``cluster.apply`` pulls in the Kubernetes client (about 1.1 CPU seconds
    of start-up), which ``import_cluster`` and the other commands never need."""
    from cluster.apply import rollback_request as request

    return request(**kwargs)


class ClusterConfig(AppConfig):
    name = "cluster"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The jobs API rolls back an apply job through this hook: jobs/ never imports cluster/.
        from jobs.services import job_rollback_handler_set

        job_rollback_handler_set(rollback_request)
