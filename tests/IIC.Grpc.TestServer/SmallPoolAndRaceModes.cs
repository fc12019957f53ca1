using System.Runtime.CompilerServices;
using Grpc.Core;

namespace IIC.Grpc.Testing;

/// <summary>
/// Round 17's modes (tests/IIC.Grpc.Tests/WritesHoldNoThreadTests.cs). A server whose service name starts with
/// <c>small-pool-</c> runs with a thread pool of at most <see cref="SmallPoolThreads"/> worker threads, so a handful of
/// handlers each holding a thread starve every other call of the process. ServerStream "write-racing-return" writes a
/// large message from another task and returns while it is being sent.
/// </summary>
public static class SmallPoolAndRaceModes
{
    /// <summary>The small pool's worker threads (above the 2 cores' minimum, with room for the host's own work; one per core on a machine with more).</summary>
    public const int SmallPoolThreads = 6;

    /// <summary>The message "write-racing-return" writes: four times the 1 MiB ring, so it is still being sent when the handler returns.</summary>
    public const int RacingMessage = 4 * 1024 * 1024;

#pragma warning disable CA2255 // a test server's mode chosen by its arguments, before the host starts any pool work
    [ModuleInitializer]
#pragma warning restore CA2255
    internal static void LimitThePoolForSmallPoolServers()
    {
        var args = Environment.GetCommandLineArgs(); // [dll, HYPERVISOR, SOCKET_DIRECTORY, SERVICE, ...]
        if (args.Length > 3 && args[3].StartsWith("small-pool-", StringComparison.Ordinal))
        {
            // Never below the pool's minimum (the processor count): a larger machine gets a pool of one thread per core.
            var workers = Math.Max(SmallPoolThreads, Environment.ProcessorCount);
            ThreadPool.GetMaxThreads(out _, out var io);
            if (!ThreadPool.SetMaxThreads(workers, io))
            {
                throw new InvalidOperationException($"Could not limit the thread pool to {workers} worker threads.");
            }
        }
    }

    /// <summary>
    /// ServerStream "write-racing-return": starts a write of <see cref="RacingMessage"/> bytes (Index 7) on another task and
    /// returns as soon as that task runs, while the message is being sent. What the write gave is kept ("outcome?"): "ok",
    /// or the exception's type name. Either the client gets the message before the trailers, or the write fails: a message
    /// after the trailers (dropped by the client) with the write reporting success would be lost silently.
    /// </summary>
    public static async Task WriteRacingReturnAsync(string key, IServerStreamWriter<Reply> stream)
    {
        var reply = new Reply { Index = 7, Payload = Payloads.Of(RacingMessage) };
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _ = Task.Run(async () =>
        {
            started.SetResult();
            try
            {
                await stream.WriteAsync(reply).ConfigureAwait(false);
                MisuseModes.Outcomes[key] = "ok";
            }
#pragma warning disable CA1031 // the outcome is what the test asks about
            catch (Exception e)
            {
                MisuseModes.Outcomes[key] = e.GetType().Name;
            }
#pragma warning restore CA1031
        });
        await started.Task.ConfigureAwait(false);
    }
}
