using System.Globalization;

namespace IIC.Perf.Harness;

/// <summary>
/// With <c>IIC_PERF_PHASES=1</c> (round 14): what this process did besides the measurement during a one-way row's
/// measured phase: garbage collections by generation (a background gen-2 collection marks on a thread of its own, which
/// on 2 CPUs takes one from the spinning pair), their pause time, and page faults (minor and major, from
/// /proc/self/stat). Printed on standard error; off, it reads nothing.
/// </summary>
internal readonly struct MeasureTrace
{
    private readonly bool _on;
    private readonly int _gen0;
    private readonly int _gen1;
    private readonly int _gen2;
    private readonly TimeSpan _pause;
    private readonly long _background;
    private readonly (long Minor, long Major) _faults;

    private MeasureTrace(bool on)
    {
        _on = on;
        if (!on)
        {
            return;
        }
        _gen0 = GC.CollectionCount(0);
        _gen1 = GC.CollectionCount(1);
        _gen2 = GC.CollectionCount(2);
        _pause = GC.GetTotalPauseDuration();
        _background = GC.GetGCMemoryInfo(GCKind.Background).Index;
        _faults = Faults();
    }

    public static MeasureTrace Start() => new(PhaseTrace.Enabled);

    public void Print(string who)
    {
        if (!_on)
        {
            return;
        }
        var faults = Faults();
        var background = GC.GetGCMemoryInfo(GCKind.Background);
        Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"measured phase ({who}, pid {Environment.ProcessId}): GCs gen0 {GC.CollectionCount(0) - _gen0} gen1 {GC.CollectionCount(1) - _gen1} gen2 {GC.CollectionCount(2) - _gen2} (background ones ended: {background.Index > _background && background.Index != 0}), pause {(GC.GetTotalPauseDuration() - _pause).TotalMilliseconds:0.0} ms; page faults minor {faults.Minor - _faults.Minor} major {faults.Major - _faults.Major}; heap {GC.GetTotalMemory(false) >> 20} MiB"));
    }

    private static (long Minor, long Major) Faults()
    {
        try
        {
            // /proc/self/stat: "pid (comm) state ..." then fields from 3 on; minflt is field 10, majflt field 12.
            var text = File.ReadAllText("/proc/self/stat");
            var fields = text[(text.LastIndexOf(')') + 2)..].Split(' ');
            return (long.Parse(fields[7], CultureInfo.InvariantCulture), long.Parse(fields[9], CultureInfo.InvariantCulture));
        }
        catch (IOException)
        {
            return (0, 0);
        }
    }
}
