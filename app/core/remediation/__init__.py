"""Self-healing, the pure part: which actions apply to an alert, the guards that may refuse them,
how kubectl would judge a rollout or a Job, and the words of the report. No I/O; times are values.

    targets.py   rendered targets and their validity (DNS-1123), target templates
    actions.py   an action as the core sees it (ActionSpec), the global Policy, RBAC per kind
    planner.py   alerts x actions -> Intents (refused at once when the target is bad)
    guards.py    the fixed guard order over a small slot record a store keeps (unique keys)
    scaling.py   relative / absolute replicas within bounds
    rollout.py   Deployment / StatefulSet / DaemonSet rollout status as `kubectl rollout status`
    jobs.py      a Job from a CronJob as `kubectl create job --from=cronjob/`, and its outcome
    verdict.py   the verdict type, pod and HTTP verdicts, the polling schedule
    report.py    the one-line report posted in the alert's thread
"""
