"""Central provisioning: the bank's fleet service (`branch-teller central ...`).

It serves the TUF repository (metadata and targets) over HTTP, keeps the fleet (each box with
its own credential, versions, health, last contact) in SQLite or PostgreSQL, runs staged
rollouts, and tells connected boxes over their outbound websocket when a rollout concerns
them. Like Uptane's director beside its image repository: central names which signed bundle a
box should install; the box still verifies every byte against the TUF metadata, so a central
that lies can hold a box back but never make it run something the signing roles did not sign.
"""
