"""The analytics projection: facts for channel, staff and customer reports, and customer traits."""
