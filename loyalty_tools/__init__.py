"""The `loyalty` command and what only it runs: the local stack, the demo. Never shipped to Lambda."""
