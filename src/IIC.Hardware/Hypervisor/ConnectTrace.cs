using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;

namespace IIC.Hardware;

/// <summary>A step of a connection's life that <see cref="ConnectTrace"/> stamps (docs/control-protocol.md, "Timeline").</summary>
internal enum ConnectStep : byte
{
    /// <summary>Connector: <c>Partition.Connect</c> entered.</summary>
    ConnectCall = 1,

    /// <summary>A partition sent a request or notice on its control socket (argument: the message type).</summary>
    ControlSent,

    /// <summary>A partition received a message on its control socket (argument: the message type).</summary>
    ControlReceived,

    /// <summary>A partition mapped a granted window (argument: its side, 0 listener, 1 connector).</summary>
    WindowOpened,

    /// <summary>Connector: <c>Partition.Connect</c> returns its grant.</summary>
    ConnectReturn,

    /// <summary>A channel opened its endpoint on a grant (argument: side).</summary>
    ChannelOpened,

    /// <summary>Listener: <c>IicListener.Accept</c> returns a channel.</summary>
    AcceptReturn,

    /// <summary>A caller reading its own answer goes to sleep in poll.</summary>
    CallerSleeps,

    /// <summary>... and woke.</summary>
    CallerWoke,

    /// <summary>The partition's background reader woke from epoll.</summary>
    ReaderWoke,

    /// <summary>Hypervisor loop: about to sleep in poll.</summary>
    HypervisorSleeps,

    /// <summary>Hypervisor loop: poll returned ready descriptors.</summary>
    HypervisorReady,

    /// <summary>Hypervisor loop: a partition's message received (argument: the message type).</summary>
    HypervisorReceived,

    /// <summary>Hypervisor: a grant's window is formatted (or made).</summary>
    HypervisorWindow,

    /// <summary>Hypervisor: a message sent to a partition (argument: the message type).</summary>
    HypervisorSent,

    /// <summary>A channel's Dispose entered (argument: side).</summary>
    CloseStart,

    /// <summary>The endpoint marked its side closed and woke its sleepers (argument: side).</summary>
    CloseMarked,

    /// <summary>The endpoint's in-flight barrier passed (argument: side).</summary>
    CloseFenced,

    /// <summary>The channel's Dispose returns (argument: side).</summary>
    CloseEnd,

    /// <summary>A partition handed a grant to its waiting caller or listener queue (argument: side).</summary>
    GrantQueued,

    /// <summary>A reading caller has its answer (and drained what else waited) and hands the socket back.</summary>
    CallerDone,

    /// <summary>A channel starts making its endpoint on a grant (argument: side).</summary>
    EndpointStart,

    /// <summary>The endpoint's mapping was released (unmapped) on close (argument: side).</summary>
    CloseUnmapped,
}

/// <summary>
/// An opt-in timeline of connection cycles: with <c>IIC_CONNECT_TRACE=DIRECTORY</c> in the environment every step
/// of connect, accept and close (partition, hypervisor loop, channel) is stamped with CLOCK_MONOTONIC (the
/// <see cref="Stopwatch"/> clock on Linux, comparable across processes) into a preallocated buffer, written at
/// process exit (or by <see cref="Flush"/>) to <c>DIRECTORY/iic-PID.trace</c>, one line per step:
/// <c>nanoseconds pid thread step argument</c>. <c>IIC.ConnectBench timeline</c> merges the files of all processes
/// and prints the per-step medians of a cycle. Off (the default) a mark is one load of a static readonly field,
/// which the JIT folds to nothing in optimised code.
/// </summary>
internal static class ConnectTrace
{
    private const int Capacity = 1 << 20; // ~16 MiB when on: 4 000+ cycles of ~40 steps each
    private static readonly string? s_directory = Environment.GetEnvironmentVariable("IIC_CONNECT_TRACE") is { Length: > 0 } d ? d : null;
    private static readonly long[] s_stamps = s_directory is null ? [] : new long[Capacity];
    private static readonly int[] s_tags = s_directory is null ? [] : new int[Capacity];
    private static int s_next;
    private static int s_flushed;

    /// <summary>Whether the trace records (IIC_CONNECT_TRACE names a directory).</summary>
    internal static readonly bool Enabled = s_directory is not null && Register();

    /// <summary>Stamps <paramref name="step"/> now, if the trace is on.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Mark(ConnectStep step, int argument = 0)
    {
        if (Enabled)
        {
            Record(step, argument);
        }
    }

    /// <summary>Stamps <paramref name="step"/> with the type of a control message (its header's bytes 6-7, unvalidated: the trace only names it).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void MarkMessage(ConnectStep step, ReadOnlySpan<byte> message)
    {
        if (Enabled)
        {
            Record(step, message.Length >= 8 ? message[6] : 0);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void Record(ConnectStep step, int argument)
    {
        var stamp = Stopwatch.GetTimestamp();
        var i = Interlocked.Increment(ref s_next) - 1;
        if (i < Capacity)
        {
            s_stamps[i] = stamp;
            // Tag 0 means "never written" (a slot taken but not yet filled at flush time is skipped).
            Volatile.Write(ref s_tags[i], (int)step | ((argument & 0xFF) << 8) | ((Environment.CurrentManagedThreadId & 0x7FFF) << 16));
        }
    }

    private static bool Register()
    {
        AppDomain.CurrentDomain.ProcessExit += static (_, _) => Flush();
        return true;
    }

    /// <summary>Writes what was recorded (once; later marks are dropped) to <c>DIRECTORY/iic-PID.trace</c>.</summary>
    internal static void Flush()
    {
        if (!Enabled || Interlocked.Exchange(ref s_flushed, 1) != 0)
        {
            return;
        }
        var count = Math.Min(Interlocked.Exchange(ref s_next, Capacity), Capacity); // no slot is handed out any more
        var pid = Environment.ProcessId;
        var text = new StringBuilder(count * 32);
        var scale = 1_000_000_000.0 / Stopwatch.Frequency;
        for (var i = 0; i < count; i++)
        {
            var tag = Volatile.Read(ref s_tags[i]);
            if (tag == 0)
            {
                continue;
            }
            text.Append(CultureInfo.InvariantCulture, $"{(long)(s_stamps[i] * scale)} {pid} {tag >> 16} {(ConnectStep)(tag & 0xFF)} {(tag >> 8) & 0xFF}\n");
        }
        try
        {
            Directory.CreateDirectory(s_directory!);
            File.WriteAllText(Path.Combine(s_directory!, string.Create(CultureInfo.InvariantCulture, $"iic-{pid}.trace")), text.ToString());
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"IIC_CONNECT_TRACE: could not write the trace: {e.Message}");
        }
    }
}
