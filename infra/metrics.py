"""The app's custom metrics that the dashboard and the alarms read: the contract between
chalicelib (powertools `Metrics(namespace="Loyalty", service="loyalty")`, EMF) and infra/.

Powertools adds the dimension `service=loyalty` to every metric; a metric also carrying `job`
has the two dimensions {service, job}. CloudWatch matches dimension sets exactly, so a metric
emitted with other dimensions is a different metric, and the alarms here would not see it.
"""

from __future__ import annotations

NAMESPACE = "Loyalty"
SERVICE = "loyalty"

# Points (Count, no extra dimension).
POINTS_EARNED = "PointsEarned"
POINTS_REDEEMED = "PointsRedeemed"
POINTS_EXPIRED = "PointsExpired"

# Sales files (chalicelib/services/sales_files/, Count): one IngestFilesCompleted or IngestFilesFailed
# per file, rows per chunk as they are applied; IngestFileDuration (Seconds) per completed file.
FILES_COMPLETED = "IngestFilesCompleted"
FILES_FAILED = "IngestFilesFailed"
FILE_DURATION = "IngestFileDuration"
# One per completed file with the dimensions {service, store_id} (not {service}: a metric of its own).
STORE_FILES = "IngestStoreFiles"
STORE_DIMENSION = "store_id"
# Hours since a store's last completed file, {service, store_id}, put every hour by the stack's
# store-watch function (infra/store_watch/handler.py) for each store with a file in two weeks.
STORE_HOURS_SINCE_FILE = "StoreHoursSinceFile"
ROWS_APPLIED = "IngestRowsApplied"
ROWS_REJECTED = "IngestRowsRejected"
ROWS_DUPLICATE = "IngestRowsDuplicate"

# The KPI roll-up of the table's stream (chalicelib/services/kpis.py, Count, per batch): records
# whose counts were added, and records an earlier delivery had already counted (retries, re-reads).
KPI_RECORDS_COUNTED = "KpiRecordsCounted"
KPI_RECORDS_DUPLICATE = "KpiRecordsDuplicate"

# API requests answered 429 (API Gateway's throttling), counted from the stage's access log by a
# metric filter (the app answers no 429 itself), dimension ApiName = the API's name per stage.
API_THROTTLED = "ApiThrottled"

# Domain events that could not be put on the bus (chalicelib/events.py).
EVENTS_FAILED = "EventsFailed"

# Scheduled jobs (chalicelib/services/jobs.py), with the dimension `job` = the job's name, which is
# the `@app.schedule` handler's name less `job_`, dashed (`job_tier_review` → `tier-review`, see
# discovery.Schedule.job): JobHeartbeat (Count, 1) when a run got through its work, JobDuration
# (Seconds) of that run. Jobs also emit their own counts (e.g. PointsExpired) with `job`: the
# dashboard sums those over every dimension set (SEARCH), alarms never rely on them.
JOB_HEARTBEAT = "JobHeartbeat"
JOB_DURATION = "JobDuration"
JOB_DIMENSION = "job"
