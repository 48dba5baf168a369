from django.apps import AppConfig


class RoutingConfig(AppConfig):
    name = "routing"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # cluster/ never imports routing/: it announces watch batches and the snapshot
        # cache listens (carries the cached snapshot over to the new revision).
        from cluster.signals import state_advanced
        from routing.snapshots import snapshot_on_state_advanced

        state_advanced.connect(snapshot_on_state_advanced, dispatch_uid="routing.snapshots")
