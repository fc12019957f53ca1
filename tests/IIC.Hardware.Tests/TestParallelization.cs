// Cross-process and timing tests share 2 cores with the runner: run tests one at a time so they measure what they claim.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
