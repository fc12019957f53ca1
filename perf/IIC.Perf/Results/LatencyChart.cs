using System.Globalization;
using IIC.Perf.Core;
using IIC.Perf.Harness;
using ScottPlot;

namespace IIC.Perf.Results;

/// <summary>
/// The ping-pong latency percentile distribution as a PNG: x is the percentile on a "nines" scale (-log10(1 - p):
/// 90 %, 99 %, 99.9 % equally spaced), y the round-trip latency in µs on a log scale; one line per transport and mode,
/// one colour each, solid for the smallest size and dashed for the others.
/// </summary>
internal static class LatencyChart
{
    private const int Width = 1400;
    private const int Height = 800;

    /// <summary>Writes the chart; false when there is no latency result to draw.</summary>
    public static bool Save(string path, MachineInfo machine, IReadOnlyList<BenchResult> results)
    {
        ArgumentNullException.ThrowIfNull(machine);
        ArgumentNullException.ThrowIfNull(results);
        var rows = results.Where(r => r.IsOk && r.Test == BenchTest.PingPong.ToName() && r.Curve is { Count: > 1 }).ToList();
        if (rows.Count == 0)
        {
            return false;
        }
        var plot = new Plot();
        var series = rows.Select(r => $"{r.Transport} {r.Mode}").Distinct().ToList();
        IPalette palette = series.Count <= 10 ? new ScottPlot.Palettes.Category10() : new ScottPlot.Palettes.Category20();
        var smallest = rows.Min(r => r.Size);
        var maxNines = 0.0;
        foreach (var row in rows)
        {
            var xs = row.Curve!.Select(p => Nines(p.Percentile)).ToArray();
            var ys = row.Curve!.Select(p => Math.Log10(Math.Max(p.Ns, 1) / 1000.0)).ToArray();
            maxNines = Math.Max(maxNines, xs[^1]);
            var line = plot.Add.ScatterLine(xs, ys, palette.GetColor(series.IndexOf($"{row.Transport} {row.Mode}")));
            line.LineWidth = 2;
            line.LinePattern = row.Size == smallest ? LinePattern.Solid : LinePattern.Dashed;
            line.LegendText = $"{row.Transport} {row.Mode} {SizeText.Format(row.Size)}";
        }

        var percentTicks = new ScottPlot.TickGenerators.NumericManual();
        for (var nines = 0; nines <= Math.Ceiling(maxNines); nines++)
        {
            percentTicks.AddMajor(nines, PercentLabel(nines));
        }
        percentTicks.AddMajor(Nines(50), "50%");
        plot.Axes.Bottom.TickGenerator = percentTicks;

        var latencyTicks = new ScottPlot.TickGenerators.NumericAutomatic
        {
            MinorTickGenerator = new ScottPlot.TickGenerators.LogMinorTickGenerator(),
            IntegerTicksOnly = true,
            LabelFormatter = y => Math.Pow(10, y).ToString(y < 0 ? "0.###" : "#,0", CultureInfo.InvariantCulture),
        };
        plot.Axes.Left.TickGenerator = latencyTicks;
        plot.Grid.MajorLineColor = Colors.Black.WithAlpha(0.15);
        plot.Grid.MinorLineColor = Colors.Black.WithAlpha(0.05);
        plot.Grid.MinorLineWidth = 1;

        plot.Title($"Round-trip latency by percentile, two processes ({machine.Cpus} CPUs, {machine.CpuModel})");
        plot.XLabel("percentile");
        plot.YLabel("round-trip latency (µs, log scale)");
        plot.ShowLegend(Edge.Right); // outside the data: at low percentiles the lines fill the whole height
        plot.Axes.SetLimitsX(0, Math.Ceiling(maxNines) + 0.05);

        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        plot.SavePng(path, Width, Height);
        return true;
    }

    private static double Nines(double percentile) => -Math.Log10(1 - (Math.Min(percentile, 99.99999) / 100));

    private static string PercentLabel(int nines) => nines switch
    {
        0 => "0%",
        1 => "90%",
        2 => "99%",
        _ => "99." + new string('9', nines - 2) + "%",
    };
}
