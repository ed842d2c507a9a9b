"""The Ray side: host actors, registry actors, Edda and the supervisor. Imported only by `run`."""
