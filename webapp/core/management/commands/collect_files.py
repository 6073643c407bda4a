"""`manage.py collect_files`: delete stored files no row or training snapshot refers to any more."""

from django.conf import settings
from django.core.management.base import BaseCommand

from webapp.core.collect import collect_files


class Command(BaseCommand):
    help = (
        "Delete stored files that no image, mask, training snapshot, model version, prediction or "
        "inference batch refers to, once they were already unreferenced at a pass at least "
        "--grace seconds earlier (default FILES_COLLECT_GRACE_SECONDS)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--grace", type=float, default=None, help="seconds a file must have been unreferenced")
        parser.add_argument("--dry-run", action="store_true", help="report, delete nothing")

    def handle(self, *args, grace=None, dry_run=False, **options):
        grace = settings.FILES_COLLECT_GRACE_SECONDS if grace is None else grace
        report = collect_files(grace_seconds=grace, dry_run=dry_run)
        verb = "would delete" if dry_run else "deleted"
        self.stdout.write(
            f"scanned {report.scanned} files: {report.referenced} referenced, {report.pending} unreferenced "
            f"(waiting out the {grace:g} s grace period), {verb} {len(report.deleted)}"
        )
        for name in report.deleted:
            self.stdout.write(f"  {name}")
