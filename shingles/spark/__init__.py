"""The archive job: cluster a whole mail archive into mailings on Apache Spark.

Same reader, parser, signatures and matching rule as the store, so a laptop and
a cluster agree. Modules, in the order a message passes them: sources (what to
read), rows (executor side: parse and fingerprint), keys (the store's matching
rule), edges (links from shared keys), components (large-star/small-star),
mailings (statistics and verdicts), job (the whole run, and its command line).
pyspark is imported only when a job runs (``pip install 'shingles[spark]'``).
"""
