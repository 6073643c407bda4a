"""`manage.py clean_scratch`: remove this machine's stale scratch under DATA_DIR/tmp (webapp/training/scratch.py)."""

from django.core.management.base import BaseCommand

from webapp.training.scratch import clean_stale_scratch


class Command(BaseCommand):
    help = (
        "Remove scratch folders killed processes left under this machine's DATA_DIR/tmp, and local copies of "
        "checkpoints whose model version is gone. Workers do this by themselves; the web runs it at start."
    )

    def handle(self, *args, **options):
        removed = clean_stale_scratch()
        self.stdout.write(f"removed {len(removed)} stale scratch entries")
        for name in removed:
            self.stdout.write(f"  {name}")
