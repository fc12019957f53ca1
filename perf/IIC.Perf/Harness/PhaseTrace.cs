using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace IIC.Perf.Harness;

/// <summary>
/// Where a row's wall time goes: with <c>IIC_PERF_PHASES=1</c> the runner marks each phase of a measurement (session
/// open, child start, connect, warm-up + measurement, report, child exit) and prints one line per row on standard
/// error, with the methods this process JIT-compiled and its gen-0 collections during the row, and its CPU seconds. Off (the default) it costs one branch per mark.
/// </summary>
internal struct PhaseTrace
{
    private static readonly bool s_enabled = Environment.GetEnvironmentVariable("IIC_PERF_PHASES") == "1";
    private readonly string _label;
    private readonly StringBuilder? _text;
    private readonly long _jitStart;
    private readonly int _gcStart;
    private long _last;

    private PhaseTrace(string label, StringBuilder? text)
    {
        _label = label;
        _text = text;
        _last = Stopwatch.GetTimestamp();
        _jitStart = System.Runtime.JitInfo.GetCompiledMethodCount();
        _gcStart = GC.CollectionCount(0);
    }

    public static bool Enabled => s_enabled;

    public static PhaseTrace Start(string label) => new(label, s_enabled ? new StringBuilder() : null);

    public void Mark(string phase)
    {
        if (_text is null)
        {
            return;
        }
        var now = Stopwatch.GetTimestamp();
        _text.Append(CultureInfo.InvariantCulture, $" {phase} {Stopwatch.GetElapsedTime(_last, now).TotalMilliseconds:0} ms");
        _last = now;
    }

    public readonly void Print()
    {
        if (_text is not null)
        {
            Console.Error.WriteLine($"phases {_label}:{_text} (parent: {System.Runtime.JitInfo.GetCompiledMethodCount() - _jitStart} methods JIT-compiled, {GC.CollectionCount(0) - _gcStart} gen0 GCs during the row; cpu {CpuClock.ProcessSeconds:0.00} s)");
        }
    }
}
