using IIC.Hardware;

namespace IIC.TestHost;

/// <summary>
/// DeferredUnmap in a fresh process, whose unmap thread no close has started yet (IIC.Reliability.Tests'
/// DeferredUnmapTests: the test process's own thread runs from its first close on).
/// </summary>
internal static class UnmapScenarios
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(60);

    /// <summary>
    /// args[0] "thread-start" or "out-of-memory": the first window's close (as a channel's: the unmap deferred) starts
    /// the unmap thread, and the start fails with <see cref="ThreadStartException"/> or <see cref="OutOfMemoryException"/>
    /// (DeferredUnmap's test hook, in place of Thread.Start). The close must complete all the same: the window's mapping
    /// unmapped on the closing thread, its descriptor closed, nothing left waiting. The next close (the hook off) starts
    /// the thread, which unmaps that window. Prints "ok".
    /// </summary>
    [Scenario("unmap-thread-start-fails")]
    private static int ThreadStartFails(string[] args)
    {
        Check(DeferredUnmap.Enabled, "IIC_DEFERRED_UNMAP=0 is set: the scenario checks the default");
        Check(DeferredUnmap.UnmappedByThread == 0 && DeferredUnmap.Waiting == 0, "the unmap thread was used before the scenario's first close");
        var failure = args[0] switch
        {
            // No public constructor: the runtime makes it when a thread's startup fails after the OS thread was made.
            "thread-start" => (Exception)Activator.CreateInstance(typeof(ThreadStartException), nonPublic: true)!,
#pragma warning disable CA2201 // the stand-in for the runtime's own: Thread.Start throws it when the OS refuses a thread
            "out-of-memory" => new OutOfMemoryException("(test) Thread failed to start."),
#pragma warning restore CA2201
            var other => throw new ArgumentException($"unknown failure '{other}': thread-start or out-of-memory"),
        };

        var first = SharedWindow.Create(new WindowOptions());
        DeferredUnmap.t_threadStartFailure = failure;
        try
        {
            first.Dispose(deferUnmap: true); // before round 25b a ThreadStartException escaped here
        }
        finally
        {
            DeferredUnmap.t_threadStartFailure = null;
        }
        Check(first.Memory.IsClosed, "the window's mapping is still there after its close: the close did not unmap it itself");
        Check(first.File.IsClosed, "the window's descriptor is still open after its close");
        Check(DeferredUnmap.Waiting == 0 && DeferredUnmap.UnmappedByThread == 0, "a window waits for a thread that did not start");

        var second = SharedWindow.Create(new WindowOptions());
        second.Dispose(deferUnmap: true);
        Check(second.File.IsClosed, "the second window's descriptor is still open after its close");
        // A bounded wait (the thread drains within its 50 ms idle timeout), not synchronisation by time.
        Check(SpinWait.SpinUntil(() => DeferredUnmap.UnmappedByThread == 1, s_timeout), $"the unmap thread did not unmap the second window within {s_timeout.TotalSeconds} s (waiting: {DeferredUnmap.Waiting})");
        Check(second.Memory.IsClosed, "the second window's mapping is still there after the thread unmapped it");
        Console.WriteLine("ok");
        return 0;
    }

    private static void Check(bool condition, string what)
    {
        if (!condition)
        {
            throw new InvalidOperationException(what);
        }
    }
}
