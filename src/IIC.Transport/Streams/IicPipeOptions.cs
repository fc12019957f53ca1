using System.Buffers;
using System.IO.Pipelines;

namespace IIC.Transport;

/// <summary>
/// How <see cref="IicChannel.AsDuplexPipe(IicPipeOptions?)"/> (and IIC.AspNetCore's Kestrel connections and HTTP client) buffer
/// and schedule: the memory pool, the back-pressure thresholds of each direction, and where the application's
/// continuations run. The defaults follow Kestrel's socket transport (1 MiB to read, 64 KiB to write, resume at half).
/// </summary>
public sealed record IicPipeOptions
{
    /// <summary>The defaults.</summary>
    public static IicPipeOptions Default { get; } = new();

    /// <summary>Where both pipes rent their buffers; null means <see cref="MemoryPool{T}.Shared"/>.</summary>
    public MemoryPool<byte>? Pool { get; init; }

    /// <summary>The smallest buffer either pipe rents (default 4096 bytes, as <see cref="PipeOptions"/>).</summary>
    public int MinimumSegmentSize { get; init; } = 4096;

    /// <summary>
    /// Received bytes the application has not consumed at which the receive thread stops taking messages out of the channel
    /// (the ring then fills and the peer's sends wait: back pressure end to end). Default 1 MiB; 0 never pauses.
    /// </summary>
    public long InputPauseThreshold { get; init; } = 1024 * 1024;

    /// <summary>Unconsumed received bytes below which the receive thread resumes (default 512 KiB; at most <see cref="InputPauseThreshold"/>).</summary>
    public long InputResumeThreshold { get; init; } = 512 * 1024;

    /// <summary>
    /// Written bytes not yet in the channel at which the application's <see cref="PipeWriter.FlushAsync"/> waits (default
    /// 64 KiB; 0 never waits). Flushed bytes go into the ring at once on the flushing thread, so this only fills while the
    /// peer's ring is full.
    /// </summary>
    public long OutputPauseThreshold { get; init; } = 64 * 1024;

    /// <summary>Unsent bytes below which a paused writer resumes (default 32 KiB; at most <see cref="OutputPauseThreshold"/>).</summary>
    public long OutputResumeThreshold { get; init; } = 32 * 1024;

    /// <summary>
    /// Where the application's code continues: after its <see cref="PipeReader.ReadAsync"/> when data arrives, and after a
    /// paused flush resumes. <see cref="PipeScheduler.ThreadPool"/> (default) keeps the receive thread free to take the next
    /// message; <see cref="PipeScheduler.Inline"/> runs the reader's code on the receive thread itself (no thread-pool hop,
    /// lowest latency; code that blocks there delays this pipe's next reads, as with Kestrel's
    /// <c>UnsafePreferInlineScheduling</c>).
    /// </summary>
    public PipeScheduler ApplicationScheduler { get; init; } = PipeScheduler.ThreadPool;

    /// <summary>
    /// Whether an HTTP/2 connection over the pipe continues its reader inline on the receive thread although
    /// <see cref="ApplicationScheduler"/> is <see cref="PipeScheduler.ThreadPool"/> (default false: a quiet A/B in round 8 showed no gain over the pool hop, and a worse p99). Applies to IIC.AspNetCore's
    /// Kestrel connections (whose first received bytes are the HTTP/2 client preface) and its HTTP client streams (whose
    /// first written bytes are): both HTTP/2 stacks hand all further work to the thread pool themselves (Kestrel copies
    /// the input into its own pipe and parses frames on the pool; SocketsHttpHandler completes its streams' waiters
    /// asynchronously), so reading inline saves a thread-pool work item per received message and runs no application
    /// code on the receive thread. HTTP/1.x and TLS connections keep the thread pool. Pipes made with
    /// <see cref="IicChannel.AsDuplexPipe(IicPipeOptions?)"/> are not affected. False: always <see cref="ApplicationScheduler"/>.
    /// </summary>
    public bool InlineHttp2Reads { get; init; }

    /// <summary>
    /// How long at most the receive thread spins for a reply its side is owed (this side flushed after it last received):
    /// it polls the ring for twice the learned flush-to-reply time, capped at this limit, while at least a quarter of recent
    /// replies came within the limit, and parks otherwise (a flush made while it is parked wakes it, off the critical
    /// path, so the reply finds it spinning instead of paying a kernel wake-up), and briefly (at most 50 µs) for the next
    /// piece of a reply that started arriving. It never spins while nothing is owed, so it does not compete with the
    /// application's threads for what they are working on; it spins only while a CPU is otherwise idle (the runnable
    /// count of /proc/loadavg: a lasting crowd makes it park, with a back-off of 1 to 100 ms), and a disposal ends a
    /// spin at once. Default
    /// <see cref="TimeSpan.Zero"/>: off (the receive thread only waits with the channel's wait strategy). Request/response
    /// traffic such as gRPC unary calls gains most; see the README.
    /// </summary>
    public TimeSpan ReplySpinLimit { get; init; }

    /// <summary>Checks the values; each problem is named with its fix.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A threshold is negative, a resume threshold is above its pause threshold, or the segment size is not positive.</exception>
    /// <exception cref="ArgumentNullException"><see cref="ApplicationScheduler"/> is null.</exception>
    public void Validate()
    {
        if (MinimumSegmentSize <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(MinimumSegmentSize), MinimumSegmentSize, "The minimum segment size must be positive (e.g. 4096).");
        }
        CheckThresholds(InputPauseThreshold, InputResumeThreshold, nameof(InputPauseThreshold), nameof(InputResumeThreshold));
        CheckThresholds(OutputPauseThreshold, OutputResumeThreshold, nameof(OutputPauseThreshold), nameof(OutputResumeThreshold));
        ArgumentNullException.ThrowIfNull(ApplicationScheduler);
        if (ReplySpinLimit < TimeSpan.Zero || ReplySpinLimit > TimeSpan.FromSeconds(1))
        {
            throw new ArgumentOutOfRangeException(nameof(ReplySpinLimit), ReplySpinLimit, "ReplySpinLimit must be between 0 (off) and 1 s; a few hundred microseconds covers a local request/response.");
        }
    }

    private static void CheckThresholds(long pause, long resume, string pauseName, string resumeName)
    {
        if (pause < 0)
        {
            throw new ArgumentOutOfRangeException(pauseName, pause, $"{pauseName} must be 0 (never pause) or a positive number of bytes.");
        }
        if (resume < 0 || (pause > 0 && resume > pause))
        {
            throw new ArgumentOutOfRangeException(resumeName, resume,
                $"{resumeName} must be between 0 and {pauseName} ({pause}); half of it is the usual choice.");
        }
    }

    /// <summary>The receive direction's pipe: the receive thread writes (never waits for a scheduler), the application reads.</summary>
    internal PipeOptions InputPipeOptions(PipeScheduler? readerScheduler = null) => new(Pool, readerScheduler: readerScheduler ?? ApplicationScheduler, writerScheduler: PipeScheduler.Inline,
        pauseWriterThreshold: InputPauseThreshold, resumeWriterThreshold: InputPauseThreshold == 0 ? 0 : InputResumeThreshold,
        minimumSegmentSize: MinimumSegmentSize, useSynchronizationContext: false);

    /// <summary>The send direction's pipe: the application writes; its flush publishes inline on its own thread.</summary>
    internal PipeOptions OutputPipeOptions() => new(Pool, readerScheduler: PipeScheduler.Inline, writerScheduler: ApplicationScheduler,
        pauseWriterThreshold: OutputPauseThreshold, resumeWriterThreshold: OutputPauseThreshold == 0 ? 0 : OutputResumeThreshold,
        minimumSegmentSize: MinimumSegmentSize, useSynchronizationContext: false);
}
