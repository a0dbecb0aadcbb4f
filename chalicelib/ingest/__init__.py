"""Store sales files: key names, the row model, the streaming reader and splitter, S3 objects,
DynamoDB records of files and receipts, per-chunk counts and bounded parallel application.
The use cases that tie them to the points engine live in chalicelib/services/sales_files/."""
