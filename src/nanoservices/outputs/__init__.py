"""Files a run leaves behind: spigo graph JSON, GraphML, flows, the summary."""
