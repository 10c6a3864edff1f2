"""The `callcenter` command: `main.py` is the root group (it adds every feature's group),
`client.py` the REST client the feature groups share."""
