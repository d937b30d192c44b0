"""The lifecycle jobs cron runs: idle reclaim, max runtime (and pause time), hold timers and stale cleanup.

Each job is a library function (`run_job`) behind a thin libexec command. They share one frame
(ds01.lifecycle.job): a lock so only one run works at a time, the clock ($DS01_NOW), facts about
every container read once from Docker, who owns it and which timers apply, protection, dry
runs, one record per decision, events and notifications.
"""
