// The real run starts child processes that spin on the machine's CPUs (2 here): run the tests one at a time, and
// one test swaps Console.Error while it runs.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
