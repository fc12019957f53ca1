using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace IIC.Perf.Harness;

/// <summary>
/// Where a row's wall time goes: with <c>IIC_PERF_PHASES=1</c> the runner marks each phase of a measurement (session
/// open, child start, connect, warm-up + measurement, report, child exit) and prints one line per row on standard
/// error, with this process's CPU seconds beside the wall time. Off (the default) it costs one branch per mark.
/// </summary>
internal struct PhaseTrace
{
    private static readonly bool s_enabled = Environment.GetEnvironmentVariable("IIC_PERF_PHASES") == "1";
    private readonly string _label;
    private readonly StringBuilder? _text;
    private long _last;

    private PhaseTrace(string label, StringBuilder? text)
    {
        _label = label;
        _text = text;
        _last = Stopwatch.GetTimestamp();
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
            Console.Error.WriteLine($"phases {_label}:{_text} (parent cpu {CpuClock.ProcessSeconds:0.00} s)");
        }
    }
}
