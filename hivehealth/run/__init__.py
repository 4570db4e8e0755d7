"""One run of the suite: its state (site, facts, connections) and how a check's verdict becomes
the test's outcome. The plugin creates the state and hands it to the fixtures it registers."""
