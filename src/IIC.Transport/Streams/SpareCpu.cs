using Microsoft.Win32.SafeHandles;

namespace IIC.Transport;

/// <summary>
/// Tells a spinning thread whether the machine has a CPU to spare for it, from the number of threads runnable right now
/// (the fourth field of <c>/proc/loadavg</c>, "runnable/total": the kernel's instantaneous sum of every CPU's run queue,
/// the caller included). A spinner is worth it only while a CPU is otherwise idle: when more threads are runnable than
/// there are CPUs, someone (on two CPUs, typically the very thread the spinner waits for, or a build next door) queues
/// for a CPU while the spinner holds one. <c>sched_yield</c> cannot tell (it returns at once under CFS/EEVDF with a
/// long run queue) and the spinner's own run-queue time tells too late and blames its own yields.
/// <para>One tolerated extra thread: .NET's thread-pool workers spin with <c>sched_yield</c> for a while after their
/// work, and such a transient spinner gives its CPU up at once; only more than one thread beyond the CPUs is crowding.
/// Machines without <c>/proc/loadavg</c> (or where it cannot be read) report a spare CPU, as before this probe.
/// In a container /proc/loadavg counts the host's threads: the probe then reports "crowded" more often, the safe
/// direction (the spinner parks). One pread of a short proc file, no allocation. Owned by one thread.</para>
/// </summary>
internal sealed class SpareCpu : IDisposable
{
    /// <summary>IIC_SPARE_CPU_PROBE=0 switches the probe off (never crowded), for A/B measurements only.</summary>
    private static readonly bool s_switchedOff = Environment.GetEnvironmentVariable("IIC_SPARE_CPU_PROBE") == "0";

    private readonly int _processors;
    private SafeFileHandle? _loadavg;
    private bool _unavailable;

    /// <summary>A probe for a machine (or cgroup) of <paramref name="processors"/> CPUs.</summary>
    public SpareCpu(int processors)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(processors);
        _processors = processors;
    }

    /// <summary>A probe for this process's <see cref="Environment.ProcessorCount"/>.</summary>
    public SpareCpu()
        : this(Environment.ProcessorCount)
    {
    }

    /// <summary>
    /// True when more than one thread beyond the CPUs is runnable right now (the caller included), i.e. a spinner would
    /// keep a thread that has work off a CPU; false when a CPU is idle or only a transient extra thread runs, or when
    /// the count cannot be read.
    /// </summary>
    public bool Crowded() => !s_switchedOff && RunnableNow() is var runnable && runnable > _processors + 1;

    /// <summary>Threads runnable right now, the caller included; -1 when unavailable.</summary>
    public int RunnableNow()
    {
        if (_unavailable)
        {
            return -1;
        }
        try
        {
            _loadavg ??= File.OpenHandle("/proc/loadavg");
            Span<byte> text = stackalloc byte[128];
            var runnable = ParseRunnable(text[..RandomAccess.Read(_loadavg, text, 0)]);
            if (runnable >= 0)
            {
                return runnable;
            }
        }
        catch (IOException)
        {
            // no /proc/loadavg here: no probe
        }
        catch (UnauthorizedAccessException)
        {
            // proc mounted without access: no probe
        }
        _unavailable = true;
        return -1;
    }

    /// <summary>
    /// The runnable count out of a /proc/loadavg line ("0.45 4.43 5.88 3/122 8042"): the number before the slash of the
    /// fourth field; -1 when the text is not such a line (validated, never trusted).
    /// </summary>
    public static int ParseRunnable(ReadOnlySpan<byte> line)
    {
        for (var field = 0; field < 3; field++)
        {
            var space = line.IndexOf((byte)' ');
            if (space < 0)
            {
                return -1;
            }
            line = line[(space + 1)..];
        }
        var value = 0;
        var digits = 0;
        foreach (var b in line)
        {
            if (b == (byte)'/')
            {
                return digits > 0 ? value : -1;
            }
            if (b is < (byte)'0' or > (byte)'9' || ++digits > 9)
            {
                return -1;
            }
            value = (value * 10) + (b - '0');
        }
        return -1;
    }

    /// <inheritdoc />
    public void Dispose() => _loadavg?.Dispose();
}
