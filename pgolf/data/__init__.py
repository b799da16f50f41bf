"""Token shards: format, fetch, build, inspect, prove, and THE byte rule."""
