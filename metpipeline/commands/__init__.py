"""The `metpipeline` command (main.py) and its sub-commands: the operator's (release, back-fill, config),
the demo, the DataMart's, the owners' (approve, acknowledge), and `ui`, the webserver."""
