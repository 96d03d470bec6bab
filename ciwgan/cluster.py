"""Who this process is in a multi-worker run (``--distribute=multiworker``), from the
TF_CONFIG environment variable, without TensorFlow: train.py decides before importing it
whether this worker is the chief (the one that takes the --train_dir lock and writes).
"""

from __future__ import annotations

import json
import os

from common.errors import InputError, one_line


class ClusterConfigError(InputError):
    """TF_CONFIG is missing or malformed for --distribute=multiworker."""


def multiworker_role(environ=None) -> tuple:
    """``(is_chief, description)`` of this process from the TF_CONFIG environment variable
    (``--distribute=multiworker``); reads no TensorFlow.  The chief is the task of type
    'chief', or worker 0 when the cluster has no chief.  A missing or malformed TF_CONFIG is a
    :class:`TrainingError`."""
    environ = os.environ if environ is None else environ
    text = environ.get("TF_CONFIG")
    example = ('e.g. TF_CONFIG=\'{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
               '"task": {"type": "worker", "index": 0}}\'')
    if not text:
        raise ClusterConfigError(f"--distribute=multiworker needs the TF_CONFIG environment variable "
                            f"on every machine ({example})")
    try:
        tf_config = json.loads(text)
        cluster, task = tf_config["cluster"], tf_config["task"]
        kind, index = task["type"], task["index"]
        if not isinstance(cluster, dict) or not cluster:
            raise ValueError("'cluster' must map task types to lists of host:port")
        for key, hosts in cluster.items():
            if not isinstance(hosts, list) or not hosts or \
                    not all(isinstance(h, str) and ":" in h for h in hosts):
                raise ValueError(f"cluster[{key!r}] must be a non-empty list of host:port")
        if kind not in cluster:
            raise ValueError(f"task type {kind!r} is not in the cluster ({', '.join(cluster)})")
        if isinstance(index, bool) or not isinstance(index, int) or \
                not 0 <= index < len(cluster[kind]):
            raise ValueError(f"task index {index!r} is not in 0..{len(cluster[kind]) - 1}")
        if set(cluster) - {"chief", "worker"}:
            raise ValueError(f"unsupported task types {sorted(set(cluster) - {'chief', 'worker'})}"
                             " (only chief and worker)")
        if len(cluster.get("chief", [])) > 1:
            raise ValueError("at most one chief")
    except (ValueError, KeyError, TypeError) as err:
        what = f"missing {err}" if isinstance(err, KeyError) else one_line(err)
        raise ClusterConfigError(f"TF_CONFIG is malformed ({what}); {example}") from None
    is_chief = kind == "chief" or (kind == "worker" and index == 0 and "chief" not in cluster)
    n_tasks = sum(len(h) for h in cluster.values())
    return is_chief, f"{kind} {index} of {n_tasks} tasks{' (chief)' if is_chief else ''}"
