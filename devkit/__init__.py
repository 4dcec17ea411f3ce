"""Each flow's development kit: realistic source data written through its real trigger
(`sluice produce`), lake seeds (`sluice seed`) and its part of `sluice demo`. One module per
flow, registered with the runtime as a `sluice.devkit.Flow` under the `sluice.flows` entry
point group (pyproject.toml). No Lambda handler imports this package."""
