"""Self-healing adapters: the `remediation:` config section, the Kubernetes client and one module per
action kind, and the verification reads. The decisions themselves are pure, in app/core/remediation."""
