using System.Buffers.Text;
using System.Diagnostics;
using Microsoft.Win32.SafeHandles;

namespace IIC.Transport;

/// <summary>
/// Tells a spinning thread whether the CPUs are oversubscribed, from how long the kernel kept it runnable but off a CPU
/// (the second field of <c>/proc/thread-self/schedstat</c>, nanoseconds waited on a run queue) against how long it spun.
/// A thread that spins while others queue for its CPU delays exactly the work it waits for; <c>sched_yield</c> does not
/// show that (it returns at once under CFS even with a long run queue), the run-queue time does. Sampled every
/// <see cref="SampleEvery"/> spins: one pread of a small proc file, no allocation. Owned by one thread, which must be the
/// one that spins (the file is opened on its first sample, and names the opening thread).
/// </summary>
internal sealed class RunQueueBrake : IDisposable
{
    /// <summary>Spins between two samples.</summary>
    public const int SampleEvery = 16;

    private SafeFileHandle? _schedstat;
    private bool _unavailable;
    private long _lastWaitNs = -1;
    private long _spunTicks;
    private int _spins;

    /// <summary>
    /// Counts a spin of <paramref name="spunTicks"/>; every <see cref="SampleEvery"/> spins, true when this thread waited
    /// for a CPU for more than a quarter of the time it spun since the last sample (the caller should stop spinning).
    /// </summary>
    public bool Oversubscribed(long spunTicks)
    {
        _spunTicks += spunTicks;
        if (++_spins < SampleEvery || _unavailable)
        {
            return false;
        }
        var spun = _spunTicks;
        _spins = 0;
        _spunTicks = 0;
        if (!TryReadRunQueueWait(out var waitNs))
        {
            return false;
        }
        var previous = _lastWaitNs;
        _lastWaitNs = waitNs;
        if (previous < 0)
        {
            return false; // the first sample only sets the baseline
        }
        var spunNs = spun * (1_000_000_000.0 / Stopwatch.Frequency);
        if ((waitNs - previous) * 4 > spunNs)
        {
            _lastWaitNs = -1; // the caller backs off: the next sample after it starts a fresh baseline
            return true;
        }
        return false;
    }

    private bool TryReadRunQueueWait(out long waitNs)
    {
        waitNs = 0;
        try
        {
            _schedstat ??= File.OpenHandle("/proc/thread-self/schedstat");
            Span<byte> text = stackalloc byte[96];
            var length = RandomAccess.Read(_schedstat, text, 0);
            // "<ns on cpu> <ns waiting on a run queue> <timeslices>\n"
            var line = text[..length];
            var space = line.IndexOf((byte)' ');
            if (space > 0 && Utf8Parser.TryParse(line[(space + 1)..], out waitNs, out _) && waitNs >= 0)
            {
                return true;
            }
        }
        catch (IOException)
        {
            // no schedstat here (a kernel without CONFIG_SCHED_INFO): no brake, as before
        }
        catch (UnauthorizedAccessException)
        {
            // proc mounted without access: no brake
        }
        _unavailable = true;
        return false;
    }

    /// <inheritdoc />
    public void Dispose() => _schedstat?.Dispose();
}
