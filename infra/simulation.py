"""The program simulator on AWS (docs/simulate.md): a Step Functions state machine over a DynamoDB
table export in the stack's bucket, never a loop in one process.

    Plan            the manifest's key and the bucket numbers, from the execution's input
    Sort            Distributed Map over the export's data files (ItemReader: manifest-files.json,
                    JSON lines): one `simulate` Lambda per file sorts its member items into buckets
    Replay          Distributed Map over the bucket numbers: one Lambda per bucket of members
                    replays them under the current and the proposed program, writes its report
    Merge           one Lambda merges the reports into `simulations/runs/<run>/result.txt` and `.json`

The Lambda is the Chalice app's `simulate` function (app.py; its role: infra/roles.py reads
`simulations/exports/*`, reads and writes `simulations/runs/*`). How to run it: infra/DEPLOY.md.
"""

from __future__ import annotations

from typing import Any, cast

from aws_cdk import ArnFormat, CfnElement, Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from chalicelib.ingest import names as prefixes
from infra.nag import acknowledge

MEMORY_MB = 3008  # a bucket's members are held in memory while they replay; more memory is more CPU
TIMEOUT_S = 900  # Lambda's limit: a bucket is sized to replay well within it (infra/DEPLOY.md)
FILES_AT_ONCE = 100  # Lambdas sorting export files at the same time
BUCKETS_AT_ONCE = 200  # Lambdas replaying buckets at the same time
RUN_TIMEOUT = Duration.hours(4)
RUNS_RETENTION = Duration.days(30)
EXPORTS_RETENTION = Duration.days(7)  # a table export holds the members' profiles
# What Step Functions needs for X-Ray and for delivering its logs to CloudWatch Logs ('*' only).
TRACING = ["xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets"]
LOG_DELIVERY = [
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
]
# What every step receives of the execution's input.
RUN_FIELDS = ("run", "export", "from", "to", "check")


class Simulation(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        bucket: s3.IBucket,
        function_arn: str,
        name: str,
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, construct_id)
        self.bucket = bucket
        step = lambda_.Function.from_function_attributes(self, "Step", function_arn=function_arn, same_environment=True)
        run = {f"{field}.$": f"$.{field}" for field in RUN_FIELDS}
        plan = sfn.Pass(
            self,
            "Plan",
            parameters={
                **run,
                "buckets.$": "$.buckets",
                "manifest.$": "States.Format('{}manifest-files.json', $.export)",
                "indexes.$": "States.ArrayRange(0, States.MathAdd($.buckets, -1), 1)",
            },
        )
        sort = sfn.DistributedMap(
            self,
            "Sort",
            item_reader=sfn.S3JsonLItemReader(bucket=bucket, key=sfn.JsonPath.string_at("$.manifest")),
            item_selector={
                "step": "sort",
                "bucket": bucket.bucket_name,
                "key.$": "$$.Map.Item.Value.dataFileS3Key",
                "run.$": "$.run",
                "buckets.$": "$.buckets",
            },
            max_concurrency=FILES_AT_ONCE,
            result_path=sfn.JsonPath.DISCARD,
        )
        sort.item_processor(self._invoke("SortFile", step))
        replay = sfn.DistributedMap(
            self,
            "Replay",
            items_path="$.indexes",
            item_selector={"step": "replay", "bucket": bucket.bucket_name, "index.$": "$$.Map.Item.Value", **run},
            max_concurrency=BUCKETS_AT_ONCE,
            result_path=sfn.JsonPath.DISCARD,
        )
        replay.item_processor(self._invoke("ReplayBucket", step))
        merge = self._invoke("Merge", step, {"step": "merge", "bucket": bucket.bucket_name, **run})
        group = logs.LogGroup(
            self,
            "Logs",
            log_group_name=f"/aws/vendedlogs/states/{name}",
            retention=log_retention,
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.role = self._role(name, function_arn)
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            state_machine_name=name,
            definition_body=sfn.DefinitionBody.from_chainable(plan.next(sort).next(replay).next(merge)),
            timeout=RUN_TIMEOUT,
            tracing_enabled=True,
            logs=sfn.LogOptions(destination=group, level=sfn.LogLevel.ALL, include_execution_data=False),
            # Imported immutable: CDK's own grants (the whole bucket for the item reader, whose key is
            # the execution's input) are dropped, and the role holds exactly the statements of _role.
            role=iam.Role.from_role_arn(self, "Runs", self.role.role_arn, mutable=False),
        )
        # Its grants for the child executions (on this role) are _role's own statements.
        self.state_machine.node.try_remove_child("DistributedMapPolicy")

    def _role(self, name: str, function_arn: str) -> iam.Role:
        stack = Stack.of(self)
        machine = stack.format_arn(
            service="states", resource="stateMachine", resource_name=name, arn_format=ArnFormat.COLON_RESOURCE_NAME
        )
        executions = stack.format_arn(
            service="states", resource="execution", resource_name=f"{name}/*", arn_format=ArnFormat.COLON_RESOURCE_NAME
        )
        statements = [
            iam.PolicyStatement(
                sid="InvokeSimulate", actions=["lambda:InvokeFunction"], resources=[function_arn, f"{function_arn}:*"]
            ),
            iam.PolicyStatement(
                sid="ReadExportManifests",
                actions=["s3:GetObject"],
                resources=[self.bucket.arn_for_objects(f"{prefixes.SIMULATION_EXPORTS}*")],
            ),
            # The Distributed Maps run their items as child executions of this state machine.
            iam.PolicyStatement(sid="StartChildExecutions", actions=["states:StartExecution"], resources=[machine]),
            iam.PolicyStatement(
                sid="WatchChildExecutions",
                actions=["states:DescribeExecution", "states:StopExecution"],
                resources=[executions],
            ),
            iam.PolicyStatement(sid="Tracing", actions=TRACING, resources=["*"]),
            iam.PolicyStatement(sid="DeliverLogs", actions=LOG_DELIVERY, resources=["*"]),
        ]
        role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("states.amazonaws.com"),
            description=f"Runs the program simulator's state machine {name}",
            inline_policies={"simulation": iam.PolicyDocument(statements=statements)},
        )
        acknowledge(
            role,
            "AwsSolutions-IAM5",
            "The simulate function's versions (`<arn>:*`); the export files, whose names DynamoDB chooses, under "
            "simulations/exports/; the Distributed Maps' child executions of this state machine; X-Ray and "
            "CloudWatch Logs' log delivery, which take '*' only.",
            [
                "Resource::<Simulate.Arn>:*",
                f"Resource::<{stack.get_logical_id(cast(CfnElement, self.bucket.node.default_child))}.Arn>/"
                f"{prefixes.SIMULATION_EXPORTS}*",
                f"Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:{name}/*",
                "Resource::*",
            ],
        )
        return role

    def _invoke(
        self, construct_id: str, step: lambda_.IFunction, payload: dict[str, Any] | None = None
    ) -> sfn.TaskStateBase:
        return tasks.LambdaInvoke(
            self,
            construct_id,
            lambda_function=step,
            payload=sfn.TaskInput.from_object(payload) if payload else sfn.TaskInput.from_json_path_at("$"),
            payload_response_only=True,
            retry_on_service_exceptions=True,
        )
