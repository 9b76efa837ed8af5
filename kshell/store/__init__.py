"""What kshell keeps in its state folder: plugs, config, credentials, names."""
