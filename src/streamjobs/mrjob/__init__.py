"""Any streamjobs job on mrjob's runners: ``python -m streamjobs.mrjob MODULE.CLASS ...``.

``cli`` is the command line (the client side; on the inline and local runners it publishes
like every other engine); ``mrtask`` the generic MRJob every map task runs, rebuilding the
job from its JobSpec; ``runners`` the local runner, which cannot hang. Nothing is imported
here: a map task imports only ``mrtask``.
"""
