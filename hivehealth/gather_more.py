"""Commands for the checks beyond the runbook (issue 7), merged into gather.SECTIONS."""

MORE_SECTIONS: dict[str, tuple[str, str]] = {
}
