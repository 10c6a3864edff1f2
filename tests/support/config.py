"""The small configuration the unit tests build the controller from (`app.build` with a FakeAmi,
`tests/support/webapp.running_app`): one queue, two agents, one DID. Format it with `runtime=`."""

CONFIG = """\
runtime_dir: {runtime}
queues:
  support: {{strategy: ringall}}
agents:
  agent1: {{extension: "1001", queues: [support]}}
  agent2: {{extension: "1002", queues: [support]}}
dids:
  "8005550100": {{queue: support}}
"""
