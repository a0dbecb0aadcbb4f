"""A stand-in for the project's app.py with one handler of every kind infra/ wires.

tests/infra synthesizes the stack around it too, so the wiring of schedules, SQS consumers, table-stream
consumers and pure Lambda functions is tested before (and whatever) the real app.py declares.
"""

from chalice import AuthResponse, Chalice, Cron, Rate

app = Chalice(app_name="loyalty")


@app.authorizer()
def bearer_key(auth_request):
    return AuthResponse(routes=["*"], principal_id="fixture")


@app.route("/health")
def health():
    return {"status": "ok"}


@app.route("/private", authorizer=bearer_key)
def private():
    return {}


@app.schedule(Cron(0, 18, "*", "*", "?", "*"), name="nightly_job")
def nightly_job(event):
    return None


@app.schedule(Rate(1, unit=Rate.HOURS))
def hourly_job(event):
    return None


@app.on_sqs_message(queue="loyalty-ingest", batch_size=5)
def ingest_file(event):
    return {"batchItemFailures": []}


@app.on_sqs_message(queue="loyalty-chunks")
def ingest_chunk(event):
    return {"batchItemFailures": []}


@app.on_sqs_message(queue="loyalty-chunks-dlq")
def chunk_dead_letters(event):
    return {"batchItemFailures": []}


@app.on_dynamodb_record(
    stream_arn="arn:aws:dynamodb:us-east-1:000000000000:table/fixture/stream/placeholder",
    batch_size=100,
    starting_position="LATEST",
)
def table_feed(event):
    return None


@app.lambda_function(name="finish_report")
def finish_report(event, context):
    return {}
