"""template.yaml as data, so the local cloud is built from the stack's own definitions.

Reads the resources, each function's handler, environment and event sources, and resolves the
intrinsic functions placard uses (Ref, Fn::Sub, Fn::GetAtt) against local physical names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

LOCAL_ACCOUNT = "123456789012"
LOCAL_REGION = "us-east-1"


class _CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short tags: !Ref X -> {"Ref": X}, !Sub s -> {"Fn::Sub": s}."""


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


_CfnLoader.add_multi_constructor("!", _tag)


@dataclass(frozen=True)
class EventSource:
    kind: str  # S3 | SQS
    resource: str  # logical id of the bucket or queue
    properties: dict[str, Any]


@dataclass(frozen=True)
class Function:
    logical_id: str
    handler: str  # module.function
    environment: dict[str, str]
    events: tuple[EventSource, ...]
    timeout: int
    background: bool = False  # run locally in low-priority processes of its own


@dataclass
class Stack:
    """The parsed template plus the names its resources have in one (local) deployment."""

    template: dict[str, Any]
    name: str = "placard-local"
    account: str = LOCAL_ACCOUNT
    region: str = LOCAL_REGION
    overrides: dict[str, str] = field(default_factory=dict)  # parameter values, as at deploy
    physical: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path, overrides: dict[str, str] | None = None) -> Stack:
        with path.open(encoding="utf-8") as handle:
            template = yaml.load(handle, Loader=_CfnLoader)  # noqa: S506 (SafeLoader subclass)
        return cls(template, overrides=dict(overrides or {}))

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        resources: dict[str, dict[str, Any]] = self.template["Resources"]
        return resources

    def of_type(self, kind: str) -> dict[str, dict[str, Any]]:
        return {lid: r for lid, r in self.resources.items() if r["Type"] == kind}

    def parameter(self, name: str) -> str:
        if name in self.overrides:
            return self.overrides[name]
        return str(self.template.get("Parameters", {})[name]["Default"])

    def physical_name(self, logical_id: str) -> str:
        """The name a resource gets: its own (resolved) name property, else stack-logical."""
        resource = self.resources[logical_id]
        props = resource.get("Properties", {})
        for key in ("BucketName", "QueueName", "TableName"):
            if key in props:
                return self.resolve(props[key])
        name = f"{self.name}-{logical_id}"
        return name.lower() if resource["Type"] == "AWS::S3::Bucket" else name

    def arn(self, logical_id: str) -> str:
        kind = self.resources[logical_id]["Type"]
        name = self.physical_name(logical_id)
        return {
            "AWS::S3::Bucket": f"arn:aws:s3:::{name}",
            "AWS::SQS::Queue": f"arn:aws:sqs:{self.region}:{self.account}:{name}",
            "AWS::DynamoDB::Table": f"arn:aws:dynamodb:{self.region}:{self.account}:table/{name}",
        }[kind]

    def _pseudo(self, name: str) -> str | None:
        return {
            "AWS::StackName": self.name,
            "AWS::AccountId": self.account,
            "AWS::Region": self.region,
            "AWS::Partition": "aws",
        }.get(name)

    def _ref(self, name: str) -> str:
        pseudo = self._pseudo(name)
        if pseudo is not None:
            return pseudo
        if name in self.template.get("Parameters", {}):
            return self.parameter(name)
        if name in self.physical:
            return self.physical[name]  # e.g. a queue's URL, known once it exists
        return self.physical_name(name)

    def _get_att(self, logical_id: str, attribute: str) -> str:
        if attribute == "Arn":
            return self.arn(logical_id)
        if attribute in ("QueueName", "BucketName", "TableName"):
            return self.physical_name(logical_id)
        raise ValueError(f"Fn::GetAtt {logical_id}.{attribute} is not known locally")

    def resolve(self, value: Any) -> str:
        if isinstance(value, str | int):
            return str(value)
        if "Ref" in value:
            return self._ref(value["Ref"])
        if "Fn::GetAtt" in value:
            logical_id, attribute = value["Fn::GetAtt"]
            return self._get_att(logical_id, attribute)
        if "Fn::Sub" in value:
            return re.sub(r"\$\{([^}]+)\}", lambda m: self._sub(m[1]), value["Fn::Sub"])
        raise ValueError(f"cannot resolve {value!r} locally")

    def _sub(self, name: str) -> str:
        if "." in name and not name.startswith("AWS::"):
            logical_id, attribute = name.split(".", 1)
            return self._get_att(logical_id, attribute)
        return self._ref(name)

    def layer_content(self, root: Path) -> Path | None:
        """Where /opt's content lives in the repo: the ContentUri of the stack's layer."""
        layers = self.of_type("AWS::Serverless::LayerVersion")
        if len(layers) != 1:
            return None
        (layer,) = layers.values()
        return root / str(layer["Properties"]["ContentUri"])

    def functions(self) -> dict[str, Function]:
        defaults = self.template.get("Globals", {}).get("Function", {})
        base_env = defaults.get("Environment", {}).get("Variables", {})
        functions = {}
        for logical_id, resource in self.of_type("AWS::Serverless::Function").items():
            props = resource["Properties"]
            env = {**base_env, **props.get("Environment", {}).get("Variables", {})}
            events = tuple(
                EventSource(
                    kind=event["Type"],
                    resource=_logical_target(event["Properties"]),
                    properties=event["Properties"],
                )
                for event in props.get("Events", {}).values()
            )
            functions[logical_id] = Function(
                logical_id=logical_id,
                handler=props["Handler"],
                environment={k: self.resolve(v) for k, v in env.items()},
                events=events,
                timeout=int(props.get("Timeout", defaults.get("Timeout", 3))),
                background=resource.get("Metadata", {}).get("LocalProcess") == "background",
            )
        return functions


def _logical_target(properties: dict[str, Any]) -> str:
    """The logical id an event source points at: !Ref Bucket or Api, or !GetAtt Queue.Arn."""
    target = (
        properties.get("Bucket") or properties.get("Queue") or properties.get("RestApiId") or {}
    )
    if "Ref" in target:
        return str(target["Ref"])
    if "Fn::GetAtt" in target:
        return str(target["Fn::GetAtt"][0])
    return ""


def s3_filter_matches(source: EventSource, key: str) -> bool:
    rules = source.properties.get("Filter", {}).get("S3Key", {}).get("Rules", [])
    for rule in rules:
        if rule["Name"] == "prefix" and not key.startswith(rule["Value"]):
            return False
        if rule["Name"] == "suffix" and not key.endswith(rule["Value"]):
            return False
    return True


def repo_root() -> Path:
    return Path(__file__).resolve().parents[2]
