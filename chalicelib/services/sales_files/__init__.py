"""Store sales files (docs/sales-files.md): S3 `incoming/` → SQS → plan → chunks → report.

A file message plans the file (one streaming pass) and fans its rows out in chunks; a chunk applies
its rows through the points engine's own use cases (`record_purchase`, `record_return`) with
bounded parallelism and commits its counts once; the last chunk (decided by a conditional counter)
starts the next phase or writes the report.

Two phases: every chunk applies its sales first, then the chunks that hold returns apply them, so a
return finds its sale wherever the two are in the file. Receipt idempotency: a store receipt id is
claimed once (RECEIPT#<store>#<receipt>), a member sale's order id is `<store>/<receipt>` (an id
the API refuses, so storefront orders never collide with receipts), so a row delivered twice, a
chunk retried after a crash, or a file uploaded again changes no balance twice.

Modules, in the order a file travels: `queue` (the ingest queue's messages), `phases` (a file's
plan, its phases, its report), `chunks` (a chunk's rows, claimed and applied in parallel),
`apply` (one row: its receipt claimed, a member credited or debited), `reports` (GET /files);
`file_run` holds what the rows of one file share, `tasks` the chunk messages, `limits` the sizes.
"""
