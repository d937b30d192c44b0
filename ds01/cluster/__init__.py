"""ds01 on a Slurm cluster: Slurm's side (config fragments, QOS and associations) generated from ds01's policy."""
