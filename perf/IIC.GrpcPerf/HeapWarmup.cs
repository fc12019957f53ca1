namespace IIC.GrpcPerf;

/// <summary>
/// <c>--heap-warmup</c>: before anything is measured, each process churns short-lived garbage until its gen0 has been
/// collected a few times, so that the memory the calls then allocate from has been touched before. Without it the
/// first tens of MB every process allocates are pages nobody touched yet, one first-touch page fault per ~4 KB (about
/// one every five native unary calls on each side), which is the native path's start-up transient (perf/RESULTS.md,
/// "Branch native (round 7)"). This is the experiment that separates that cause from the connection's own start-up.
/// </summary>
internal static class HeapWarmup
{
    /// <summary>The environment variable that tells the server process to do the same.</summary>
    public const string Variable = "IIC_GRPCPERF_HEAP_WARMUP";

    /// <summary>Allocates and drops 1 KiB arrays until gen0 was collected <paramref name="collections"/> times more.</summary>
    public static void Run(int collections = 3)
    {
        var target = GC.CollectionCount(0) + collections;
        var kept = new byte[16][]; // the arrays must escape, or the JIT allocates them on the stack and gen0 never fills
        for (var i = 0; GC.CollectionCount(0) < target; i++)
        {
            kept[i & 15] = new byte[1024];
        }
        GC.KeepAlive(kept);
    }
}
