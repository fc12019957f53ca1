using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;

namespace IIC.Grpc.Protocol;

/// <summary>
/// <c>IIC_GRPC_TRACE=DIR</c> (diagnostics, off by default): a CLOCK_MONOTONIC stamp (<see cref="Stopwatch"/> on Linux) at
/// each step of a native call in this process, written at exit to <c>DIR/calltrace-PID.txt</c> as "step ns" lines. Both
/// processes' stamps share the clock, so a script lines a call's steps up across the client and the server
/// (perf/IIC.GrpcPerf/calltrace.py: the per-step cold timeline of <c>unary-idle</c>). Off, each step is one test of a
/// static readonly bool the JIT folds away; on, a stamp is a clock read and two stores into a preallocated array (up to
/// <see cref="Capacity"/> stamps; later ones are dropped), no allocation.
/// </summary>
internal static class CallTrace
{
    /// <summary>The steps, in the order a unary call passes them.</summary>
    public enum Step : long
    {
        /// <summary>The harness (GrpcPerf) is about to make the call.</summary>
        ClientBegin,
        /// <summary>The invoker's AsyncUnaryCall was entered (after the generated client and its interceptor chain).</summary>
        ClientInvoker,
        /// <summary>The client serialized the request.</summary>
        ClientSerialized,
        /// <summary>The client's CallStart frame is in the ring and the server's doorbell was rung (a FUTEX_WAKE if it slept).</summary>
        ClientSent,
        /// <summary>
        /// When the peer raised the doorbell that woke this reader from a park (the waker's stamp on the interrupt page, as
        /// the woken reader read it: <see cref="Hardware.Waiter.LastWakeLatencyTicks"/> before <see cref="ReaderWoke"/>).
        /// </summary>
        DoorbellRaised,
        /// <summary>The woken reader thread ran again after its park (the futex wait returned; the waiter's own code follows).</summary>
        ReaderRunning,
        /// <summary>A reader thread's wait returned (after a spin or a kernel wake-up).</summary>
        ReaderWoke,
        /// <summary>A reader thread took a frame from the ring.</summary>
        Frame,
        /// <summary>The server opened the call (header parsed, method found, call object registered).</summary>
        ServerCallOpened,
        /// <summary>The server deserialized the request where it lies in the ring.</summary>
        ServerRequestParsed,
        /// <summary>The server's handler returned.</summary>
        ServerHandlerReturned,
        /// <summary>The server serialized the response.</summary>
        ServerSerialized,
        /// <summary>The server's Trailers frame (with the response) is in the ring and the client's doorbell was rung.</summary>
        ServerSent,
        /// <summary>The client deserialized the response where it lies in the ring.</summary>
        ClientResponseParsed,
        /// <summary>The client is about to complete the response task (the awaiting code continues inline from here).</summary>
        ClientCompleting,
        /// <summary>The harness's await of the call returned.</summary>
        ClientEnd,
    }

    /// <summary>The most stamps one process keeps.</summary>
    public const int Capacity = 1 << 20;

    /// <summary>Whether <c>IIC_GRPC_TRACE</c> names a directory.</summary>
    public static readonly bool Enabled = !string.IsNullOrEmpty(Environment.GetEnvironmentVariable("IIC_GRPC_TRACE"));

    private static readonly long[] s_stamps = Enabled ? new long[2 * Capacity] : [];
    private static int s_count;

    /// <summary>Stamps <paramref name="step"/> now, when tracing.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Mark(Step step)
    {
        if (Enabled)
        {
            Record(step);
        }
    }

    /// <summary>
    /// After a reader's wait: when it parked (its waiter's park count moved since <paramref name="parksBefore"/>), stamps
    /// the doorbell's raise and the moment the woken thread ran (the waiter measured the latency between them); then
    /// <see cref="Step.ReaderWoke"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void MarkWake(Hardware.Waiter waiter, long parksBefore)
    {
        if (Enabled)
        {
            RecordWake(waiter, parksBefore);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void RecordWake(Hardware.Waiter waiter, long parksBefore)
    {
        var now = Stopwatch.GetTimestamp();
        var latency = waiter.LastWakeLatencyTicks;
        if (waiter.Parks != parksBefore && latency > 0 && Transport.WakeDiagnostics.LastWakeRunningAt(waiter) > 0)
        {
            var runningAt = Transport.WakeDiagnostics.LastWakeRunningAt(waiter);
            Record(Step.DoorbellRaised, runningAt - latency);
            Record(Step.ReaderRunning, runningAt);
        }
        Record(Step.ReaderWoke, now);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void Record(Step step) => Record(step, Stopwatch.GetTimestamp());

    private static void Record(Step step, long now)
    {
        var i = Interlocked.Increment(ref s_count) - 1;
        if (i == 0)
        {
            AppDomain.CurrentDomain.ProcessExit += static (_, _) => Write();
        }
        if (i < Capacity)
        {
            s_stamps[2 * i] = now;
            s_stamps[(2 * i) + 1] = (long)step;
        }
    }

    private static void Write()
    {
        var count = Math.Min(Volatile.Read(ref s_count), Capacity);
        var directory = Environment.GetEnvironmentVariable("IIC_GRPC_TRACE")!;
        Directory.CreateDirectory(directory);
        using var file = new StreamWriter(Path.Combine(directory, $"calltrace-{Environment.ProcessId.ToString(CultureInfo.InvariantCulture)}.txt"));
        var toNs = 1e9 / Stopwatch.Frequency;
        for (var i = 0; i < count; i++)
        {
            file.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{(Step)s_stamps[(2 * i) + 1]} {s_stamps[2 * i] * toNs:0}"));
        }
    }
}
