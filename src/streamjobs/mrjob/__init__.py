"""Any streamjobs job on mrjob's runners: ``python -m streamjobs.mrjob MODULE.CLASS ...``.

``cli`` is the command line (the client side); ``mrtask`` the generic MRJob every map task
runs, rebuilding the job from its JobSpec; ``runners`` the inline and local runners, which
publish like every other engine and cannot hang. Nothing is imported here: a map task
imports only ``mrtask``.
"""
