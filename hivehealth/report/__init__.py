"""Reports: the JSON report and pytest-html page, history, Prometheus, waivers, the gate."""
