"""Administration: roles and rights, network lists, the audit log, admin pages and commands."""
