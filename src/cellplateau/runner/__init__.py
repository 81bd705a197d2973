"""The study runner: the only place that knows about files, caching and executors."""
