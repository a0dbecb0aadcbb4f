"""Pure loyalty rules: no boto3, no chalice, no clock reads (time is always passed in)."""
