"""The sales pipeline projection: deals (with stage history), notes and tasks, folded from the global log."""
