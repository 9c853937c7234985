"""A Ray cluster of several nodes on this machine (Ray's own ``ray.cluster_utils.Cluster``), for tests.

Prints one JSON line, ``{"address", "nodes": {node_id: raylet_pid}}``, then reads commands on
stdin, answering each with one JSON line: ``kill NODE_ID`` (its raylet and agents SIGKILLed, as a
machine that dies) and ``add [CPUS [GPUS]]`` (one more node; 1 CPU by default). EOF shuts the cluster down. The head node has no
CPU, so no trial runs there and killing a worker node leaves the cluster up. Run it with
RAY_AUTH_MODE=token and RAY_AUTH_TOKEN set: a cluster of one's own, secured as a real one is.

    python cluster.py TEMP_DIR [NODES]
"""

import json
import sys

from ray.cluster_utils import Cluster


def describe(node):
    return node.node_id, node.all_processes["raylet"][0].process.pid


def main() -> None:
    temp, count = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 2
    cluster = Cluster(
        initialize_head=True,
        head_node_args={
            "num_cpus": 0,
            "include_dashboard": False,
            "temp_dir": temp,
            # A dead node is noticed in about a second, not Ray's default 15 s.
            "_system_config": {"health_check_period_ms": 300, "health_check_failure_threshold": 3},
        },
    )
    nodes = {}
    for _ in range(count):
        node = cluster.add_node(num_cpus=1)
        nodes[node.node_id] = node
    cluster.wait_for_nodes()
    print(
        json.dumps({"address": cluster.address, "nodes": dict(describe(n) for n in nodes.values())}),
        flush=True,
    )
    try:
        for line in sys.stdin:
            cmd = line.split()
            if cmd[:1] == ["kill"]:
                cluster.remove_node(nodes.pop(cmd[1]), allow_graceful=False)
                print(json.dumps({"killed": cmd[1]}), flush=True)
            elif cmd[:1] == ["add"]:  # add [CPUS [GPUS]]: Ray takes declared GPUs at their word
                cpus, gpus = (int(cmd[1]) if len(cmd) > 1 else 1), (int(cmd[2]) if len(cmd) > 2 else 0)
                node = cluster.add_node(num_cpus=cpus, num_gpus=gpus)
                nodes[node.node_id] = node
                cluster.wait_for_nodes()
                print(json.dumps({"added": dict([describe(node)])}), flush=True)
    finally:
        cluster.shutdown()


if __name__ == "__main__":
    main()
