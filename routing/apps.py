from django.apps import AppConfig


class RoutingConfig(AppConfig):
    name = "routing"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # cluster/ never imports routing/: it announces watch batches and the snapshot
        # cache listens (carries the cached snapshot over to the new revision).
        from cluster.signals import state_advanced, watch_idle
        from routing.snapshots import snapshot_on_state_advanced, snapshot_on_watch_idle

        state_advanced.connect(snapshot_on_state_advanced, dispatch_uid="routing.snapshots")
        watch_idle.connect(snapshot_on_watch_idle, dispatch_uid="routing.snapshots")
