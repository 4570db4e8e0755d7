"""Runbook 7.4: a DRBD volume above 90 %: no automatic action."""
from hivehealth.checks.test_volumes import volume_usage
from hivehealth.remedy.plan import DESTRUCTIVE, Plan, remedy


@remedy(volume_usage, tier=DESTRUCTIVE)
def resize_volume(ctx, name, verdict):
    """Resizing destroys and rebuilds the volume from a backup: always by hand."""
    return Plan(refused="no automatic action: resizing rebuilds the volume from a backup; "
                        "follow the resize procedure in the failure above")
