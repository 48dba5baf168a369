from django.apps import AppConfig


class ClusterConfig(AppConfig):
    name = "cluster"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The jobs API rolls back an apply job through this hook: jobs/ never imports cluster/.
        from cluster.apply import rollback_request
        from jobs.services import job_rollback_handler_set

        job_rollback_handler_set(rollback_request)
