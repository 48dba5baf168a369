from django.apps import AppConfig


class RoutingConfig(AppConfig):
    name = "routing"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_save

        # cluster/ never imports routing/: it announces watch batches and the snapshot
        # cache listens (carries the cached snapshot over to the new revision).
        from cluster.models import Cluster
        from cluster.signals import state_advanced, watch_idle
        from routing.signals import analysis_on_revision, analysis_on_watch_idle
        from routing.snapshots import (
            snapshot_on_state_advanced,
            snapshot_on_watch_idle,
            snapshot_on_watch_idle_late,
        )

        state_advanced.connect(snapshot_on_state_advanced, dispatch_uid="routing.snapshots")
        watch_idle.connect(snapshot_on_watch_idle, dispatch_uid="routing.snapshots")
        # Every new revision is analysed by the workers, its result stored for the pages
        # (routing/analysis_jobs.py): import and sync save Cluster.revision; a watch asks
        # once per burst (watch_idle, after the carried node table the shards read is
        # pickled), so a steady event stream does not supersede every analysis before it
        # finishes. The advanced whole snapshot other pages read is pickled after the
        # request (its shards start at once), by a child at the lowest CPU priority: a
        # CPU-bound write of seconds that must not take a core from the shard workers.
        post_save.connect(analysis_on_revision, sender=Cluster, dispatch_uid="routing.analysis")
        watch_idle.connect(analysis_on_watch_idle, dispatch_uid="routing.analysis")
        watch_idle.connect(snapshot_on_watch_idle_late, dispatch_uid="routing.snapshots.whole")
        return None
