"""Read-model schemas: the shape projections write and the read API serves to other teams.

They live here, not in a deployable, because both the projection and the API speak them.
Same rules as events: additive changes only.
"""
