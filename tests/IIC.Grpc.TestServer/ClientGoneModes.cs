using System.Collections.Concurrent;
using Grpc.Core;

namespace IIC.Grpc.Testing;

/// <summary>
/// Round 25b's modes (tests/IIC.Grpc.Tests/ClientGoneWriteTests.cs): a write to a call whose client is gone, made in the
/// gap between the reader thread's mark (the client's Cancel read) and the call's token firing (later, on the pool). The
/// server runs handlers inline (on the connection's reader thread, in frame order) with the small pool
/// (<see cref="SmallPoolAndRaceModes"/>), whose every worker thread "block-pool" holds, so the token cannot fire meanwhile.
/// </summary>
public static class ClientGoneModes
{
    /// <summary>How long the pool is held at most: a failing test still lets it go.</summary>
    private static readonly TimeSpan s_bound = TimeSpan.FromSeconds(120);

    private static readonly ConcurrentDictionary<string, (ServerCallContext Context, IServerStreamWriter<Reply> Stream, CancellationToken Token)> s_targets = new();
    private static readonly ManualResetEventSlim s_poolGate = new(false);

    /// <summary>
    /// ServerStream "gone-target": keeps the call (its context, stream and token, made now so that looking at it later
    /// does not make it: a token made after the client left starts cancelled) for "gone-probe", notes "written?" 0, and
    /// waits for the token; once it fires notes "cancelled?" "cancelled".
    /// </summary>
    public static async Task TargetAsync(string key, IServerStreamWriter<Reply> stream, ServerCallContext context)
    {
        var token = context.CancellationToken;
        s_targets[key] = (context, stream, token);
        Observations.Written[key] = 0;
        try
        {
            await Task.Delay(Timeout.Infinite, token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            Observations.Cancelled[key] = "cancelled";
            throw;
        }
    }

    /// <summary>
    /// Unary "gone-probe": on the target's connection, after its client's Cancel (inline handlers run in frame order on the
    /// reader thread), writes the target's response headers and then a message. Text: "headers=X write=Y", each "ok" or the
    /// exception's type name ("pending" for a write not complete at once); Flag: whether the target's token had fired
    /// before (false: the writes ran in the gap).
    /// </summary>
    public static Reply Probe(string key)
    {
        if (!s_targets.TryGetValue(key, out var target))
        {
            throw new RpcException(new Status(StatusCode.FailedPrecondition, $"no gone-target call under '{key}'"));
        }
        var fired = target.Token.IsCancellationRequested;
        var headers = Outcome(target.Context.WriteResponseHeadersAsync(new Metadata { { "late", "headers" } }));
        var write = Outcome(target.Stream.WriteAsync(new Reply { Index = 1 }));
        return new Reply { Text = $"headers={headers} write={write}", Flag = fired };
    }

    private static string Outcome(Task write)
    {
        if (!write.IsCompleted)
        {
            write.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            return "pending";
        }
        return write.Exception?.InnerException is { } e ? e.GetType().Name : write.IsCanceled ? "canceled" : "ok";
    }

    /// <summary>
    /// Unary "block-pool" (an inline handler: it waits on the reader thread, which is not the pool's): holds every worker
    /// thread of the (small) pool until "release-pool", and returns (Index: their number) once all are held.
    /// </summary>
    public static Reply BlockPool()
    {
        ThreadPool.GetMaxThreads(out var workers, out var io);
        if (workers > 64)
        {
            throw new RpcException(new Status(StatusCode.FailedPrecondition, "block-pool needs a small-pool server with inline handlers"));
        }
        // All of them at once, rather than one each half second past the minimum as the pool adds threads when starved.
        ThreadPool.GetMinThreads(out _, out var minIo);
        if (!ThreadPool.SetMinThreads(workers, minIo))
        {
            throw new RpcException(new Status(StatusCode.FailedPrecondition, $"could not raise the pool's minimum to {workers} (max io {io})"));
        }
        s_poolGate.Reset();
        // Not disposed: a thread held late (after a failed wait below) still signals it.
        var held = new CountdownEvent(workers);
        for (var i = 0; i < workers; i++)
        {
            ThreadPool.UnsafeQueueUserWorkItem(static h =>
            {
                h.Signal();
                s_poolGate.Wait(s_bound);
            }, held, preferLocal: false);
        }
        if (!held.Wait(s_bound))
        {
            throw new RpcException(new Status(StatusCode.DeadlineExceeded, $"only {workers - held.CurrentCount} of {workers} pool threads held"));
        }
        return new Reply { Index = workers };
    }

    /// <summary>Unary "release-pool": lets the threads "block-pool" holds go.</summary>
    public static Reply ReleasePool()
    {
        s_poolGate.Set();
        return new Reply();
    }
}
