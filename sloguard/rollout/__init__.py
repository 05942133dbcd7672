"""Progressive rollout of the Rust path: the plan, the sequential test, the state and decision log, the flag."""
