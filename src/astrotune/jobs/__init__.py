"""What the workflow's rules run: one function per job that reads the rule's inputs and writes its
outputs, so that a Snakemake script is a thin adapter passing paths and a test can call the job."""
