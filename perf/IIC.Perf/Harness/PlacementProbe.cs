using System.Diagnostics;
using System.Globalization;
using IIC.Native;

namespace IIC.Perf.Harness;

/// <summary>
/// The floor every shared-memory number sits on: a 0-byte raw round trip between two processes, one cache line
/// each way (this process writes a counter into the ping line, the probe child spins on it and copies it into the
/// pong line, this process spins on that). The host moves the two vCPUs between near and far placements within
/// seconds (110-140 ns or 470-530 ns here), so the job takes a probe before and after every row and compares
/// rows only when their probes agree.
/// </summary>
/// <remarks>
/// The probe child is started once per run (<c>IIC.Perf __probe FD</c>, the memfd inherited) and sleeps in a
/// blocking read of its standard input between probes: one byte on it starts a burst of spinning, which the stop
/// value in the ping line ends. It never spins while a measurement runs. Its standard input closing ends it.
/// </remarks>
internal sealed unsafe class PlacementProbe : IDisposable
{
    public const string Verb = "__probe";

    private const int PingOffset = 0;
    private const int PongOffset = 256; // its own 128-byte pair of lines: adjacent-line prefetch pairs 64-byte lines
    private const int MappingLength = 4096;
    private const int Warmup = 500;
    private const int Samples = 4000;
    private static readonly TimeSpan s_burstLimit = TimeSpan.FromSeconds(5);

    /// <summary>The longest one probe can take before it gives up (<see cref="Measure"/> then returns null).</summary>
    public static TimeSpan BurstLimit => s_burstLimit;

    private readonly MappedMemory _memory;
    private readonly MappingLease _lease;
    private readonly Process _child;
    private readonly IDisposable _cleanup;
    private readonly long[] _samples = new long[Samples];
    private long _counter;

    private PlacementProbe(MappedMemory memory, Process child)
    {
        _memory = memory;
        _lease = memory.Lease();
        _child = child;
        _cleanup = CleanupRegistry.Register(this);
    }

    /// <summary>Starts the probe child; null (and a line on stderr saying why) when that is impossible here.</summary>
    public static PlacementProbe? TryStart()
    {
        if (!LinuxPlatform.IsSupported)
        {
            return null;
        }
        try
        {
            using var file = MemoryFile.Create("iicperf-probe");
            MemoryFile.SetSize(file, MappingLength);
            var memory = MappedMemory.Map(file, MappingLength);
            file.CloseOnExec = false; // the child inherits it; ours is closed right after the start
            var (executable, leading) = SelfCommand.Resolve();
            var start = new ProcessStartInfo(executable) { RedirectStandardInput = true, UseShellExecute = false };
            foreach (var argument in leading.Concat([Verb, file.Value.ToString(CultureInfo.InvariantCulture)]))
            {
                start.ArgumentList.Add(argument);
            }
            var child = Process.Start(start) ?? throw new InvalidOperationException("Process.Start returned null.");
            return new PlacementProbe(memory, child);
        }
        catch (Exception e) when (e is InvalidOperationException or IOException or NativeException or System.ComponentModel.Win32Exception)
        {
            Console.Error.WriteLine($"placement probe unavailable: {e.Message}");
            return null;
        }
    }

    /// <summary>One probe: p50 and p99 of a few thousand 0-byte round trips, in ns; null if the child did not answer.</summary>
    public (long P50Ns, long P99Ns)? Measure()
    {
        var ping = (long*)(_lease.Base + PingOffset);
        var pong = (long*)(_lease.Base + PongOffset);
        Volatile.Write(ref *ping, ++_counter); // not the stop value any more, before the child wakes and looks
        try
        {
            _child.StandardInput.Write('p');
            _child.StandardInput.Flush();
        }
        catch (IOException)
        {
            return null;
        }
        var giveUp = Stopwatch.GetTimestamp() + (long)(s_burstLimit.TotalSeconds * Stopwatch.Frequency);
        for (var i = 0; i < Warmup + Samples; i++)
        {
            var value = ++_counter;
            var before = Stopwatch.GetTimestamp();
            Volatile.Write(ref *ping, value);
            var spins = 0;
            while (Volatile.Read(ref *pong) != value)
            {
                if ((++spins & 0xFFFF) == 0 && Stopwatch.GetTimestamp() > giveUp)
                {
                    // Send the child back to sleep, as a finished probe does: left alone it would spin on until its
                    // own burst limit, into the next row.
                    Volatile.Write(ref *ping, -1);
                    return null;
                }
            }
            var after = Stopwatch.GetTimestamp();
            if (i >= Warmup)
            {
                _samples[i - Warmup] = after - before;
            }
        }
        Volatile.Write(ref *ping, -1); // the child goes back to sleep on its standard input
        Array.Sort(_samples);
        return (ToNs(_samples[Samples / 2]), ToNs(_samples[(Samples * 99) / 100]));
    }

    public void Dispose()
    {
        _cleanup.Dispose();
        try
        {
            _child.StandardInput.Close();
            if (!_child.WaitForExit(TimeSpan.FromSeconds(5)))
            {
                _child.Kill();
            }
        }
        catch (Exception e) when (e is IOException or InvalidOperationException)
        {
            // already gone
        }
        _child.Dispose();
        _lease.Dispose();
        _memory.Dispose();
    }

    /// <summary>The child: <c>IIC.Perf __probe FD</c>. Each byte on standard input starts one burst of echoing.</summary>
    public static int RunChild(string[] args)
    {
        if (args.Length != 2 || !int.TryParse(args[1], NumberStyles.None, CultureInfo.InvariantCulture, out var fd))
        {
            Console.Error.WriteLine($"usage: IIC.Perf {Verb} <fd> (started by the harness, not by hand)");
            return 2;
        }
        using var file = new FileDescriptor(fd);
        using var memory = MappedMemory.Map(file, MappingLength);
        using var lease = memory.Lease();
        var ping = (long*)(lease.Base + PingOffset);
        var pong = (long*)(lease.Base + PongOffset);
        using var input = Console.OpenStandardInput();
        var command = new byte[1];
        while (input.Read(command) > 0)
        {
            // Echo until the stop value; give up after the burst limit (the parent died or gave up).
            var giveUp = Stopwatch.GetTimestamp() + (long)(s_burstLimit.TotalSeconds * Stopwatch.Frequency);
            var last = Volatile.Read(ref *pong);
            var spins = 0;
            while (true)
            {
                var value = Volatile.Read(ref *ping);
                if (value == -1)
                {
                    break;
                }
                if (value != last)
                {
                    Volatile.Write(ref *pong, value);
                    last = value;
                }
                else if ((++spins & 0xFFFF) == 0 && Stopwatch.GetTimestamp() > giveUp)
                {
                    break;
                }
            }
        }
        return 0;
    }

    private static long ToNs(long ticks) => (long)Math.Round(ticks * 1e9 / Stopwatch.Frequency);
}
