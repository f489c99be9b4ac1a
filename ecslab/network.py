"""The default VPC and its subnets (the original ``get-default-vpc.sh``)."""

from __future__ import annotations

from dataclasses import dataclass

import boto3

from ecslab.errors import LabError


@dataclass(frozen=True)
class LabNetwork:
    vpc_id: str
    subnet_ids: list[str]

    def exports(self) -> str:
        """Shell lines for ``eval "$(ecs-lab default-vpc)"``."""
        return f"export DEFAULT_VPC_ID={self.vpc_id}\nexport DEFAULT_SUBNET_IDS={','.join(self.subnet_ids)}"


def find_default_network(session: boto3.Session, minimum_zones: int = 2) -> LabNetwork:
    """The default VPC and one available subnet per availability zone.

    Raises :class:`LabError` when there is no default VPC or when its subnets
    cover fewer than ``minimum_zones`` zones (an ALB needs two).
    """
    ec2 = session.client("ec2")
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"]
    if not vpcs:
        raise LabError("no_default_vpc", region=session.region_name)
    vpc_id = vpcs[0]["VpcId"]

    paginator = ec2.get_paginator("describe_subnets")
    subnets = [
        subnet
        for page in paginator.paginate(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])
        for subnet in page["Subnets"]
        if subnet.get("State", "available") == "available"
    ]
    # One subnet per zone, the zone's default subnet first, in zone order.
    by_zone: dict[str, str] = {}
    for subnet in sorted(subnets, key=lambda s: (s["AvailabilityZone"], not s.get("DefaultForAz", False))):
        by_zone.setdefault(subnet["AvailabilityZone"], subnet["SubnetId"])
    if len(by_zone) < minimum_zones:
        raise LabError("not_enough_subnets", vpc=vpc_id, count=len(by_zone), minimum=minimum_zones)
    return LabNetwork(vpc_id=vpc_id, subnet_ids=list(by_zone.values()))
