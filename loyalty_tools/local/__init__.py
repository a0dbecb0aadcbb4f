"""The local stack behind `loyalty dev` and the tests: DynamoDB Local, moto, resources, SQS pump, scheduler."""
