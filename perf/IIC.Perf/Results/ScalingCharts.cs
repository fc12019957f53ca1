using System.Globalization;
using IIC.Perf.Core;
using IIC.Perf.Harness;
using ScottPlot;

namespace IIC.Perf.Results;

/// <summary>
/// One PNG per scaling test, beside the latency chart: channels.png (wake-up latency and idle CPU against open idle
/// channels), fanin.png (msgs/s against sending processes), connect.png (connection cycle, iic against TCP) and
/// sizes.png (bandwidth delivered against message size, beside memcpy). A test with no rows draws nothing.
/// </summary>
internal static class ScalingCharts
{
    private const int Width = 1000;
    private const int Height = 600;

    /// <summary>Writes the charts it has rows for into <paramref name="directory"/>; returns their paths.</summary>
    public static IReadOnlyList<string> Save(string directory, MachineInfo machine, IReadOnlyList<BenchResult> results)
    {
        ArgumentNullException.ThrowIfNull(machine);
        ArgumentNullException.ThrowIfNull(results);
        var saved = new List<string>();
        var suffix = $" ({machine.Cpus} CPUs, {machine.CpuModel})";
        Save(directory, "channels.png", Channels(results, suffix), saved);
        Save(directory, "fanin.png", FanIn(results, suffix), saved);
        Save(directory, "connect.png", Connect(results, suffix), saved);
        Save(directory, "sizes.png", Sizes(results, suffix), saved);
        return saved;
    }

    private static void Save(string directory, string name, Plot? plot, List<string> saved)
    {
        if (plot is null)
        {
            return;
        }
        Directory.CreateDirectory(directory);
        var path = Path.Combine(directory, name);
        plot.SavePng(path, Width, Height);
        saved.Add(path);
    }

    private static List<BenchResult> Rows(IReadOnlyList<BenchResult> results, BenchTest test)
        => [.. results.Where(r => r.IsOk && r.Test == test.ToName())];

    private static Plot? Channels(IReadOnlyList<BenchResult> results, string suffix)
    {
        var rows = Rows(results, BenchTest.Channels).Where(r => r.Channels is > 0).OrderBy(r => r.Channels).ToList();
        var spread = rows.Count > 0 && rows.All(r => r.Api is not null); // a --channels-spread run
        rows = [.. rows.Where(r => (r.Api is null) != spread)];
        if (rows.Count == 0)
        {
            return null;
        }
        var plot = new Plot();
        var xs = rows.Select(r => Math.Log10(r.Channels!.Value)).ToArray();
        Line(plot, xs, [.. rows.Select(r => (r.P50Ns ?? 0) / 1000.0)], "wake-up round trip p50 (µs)");
        Line(plot, xs, [.. rows.Select(r => (r.P99Ns ?? 0) / 1000.0)], "wake-up round trip p99 (µs)");
        var cpu = Line(plot, xs, [.. rows.Select(r => r.IdleCpuPct ?? 0)], "idle server CPU (% of one CPU, right axis)");
        cpu.Axes.YAxis = plot.Axes.Right;
        plot.Axes.Right.Label.Text = "idle CPU (%)";
        plot.Axes.Bottom.TickGenerator = PowersOfTen(rows.Select(r => r.Channels!.Value));
        plot.Title((spread ? "Wake-up of a parked thread waiting on N open channels, a random one used" : "Wake-up of a parked thread waiting on N open channels, one used, the rest idle") + suffix);
        plot.XLabel("open channels (log scale)");
        plot.YLabel("round trip (µs)");
        plot.Axes.SetLimitsY(0, Math.Max(1, rows.Max(r => (r.P99Ns ?? 0) / 1000.0) * 1.2), plot.Axes.Left);
        plot.Axes.SetLimitsY(0, Math.Max(1, rows.Max(r => r.IdleCpuPct ?? 0) * 1.5), plot.Axes.Right);
        plot.ShowLegend(Alignment.UpperLeft);
        return plot;
    }

    private static Plot? FanIn(IReadOnlyList<BenchResult> results, string suffix)
    {
        var rows = Rows(results, BenchTest.FanIn).Where(r => r.Senders is > 0).OrderBy(r => r.Senders).ToList();
        if (rows.Count == 0)
        {
            return null;
        }
        var plot = new Plot();
        var xs = rows.Select(r => Math.Log2(r.Senders!.Value)).ToArray();
        Line(plot, xs, [.. rows.Select(r => (r.MsgsPerS ?? 0) / 1e6)], "iic, one receiving thread (channel group)");
        var ticks = new ScottPlot.TickGenerators.NumericManual();
        foreach (var row in rows)
        {
            ticks.AddMajor(Math.Log2(row.Senders!.Value), row.Senders.Value.ToString(CultureInfo.InvariantCulture));
        }
        plot.Axes.Bottom.TickGenerator = ticks;
        plot.Title("Fan-in: 32 B messages from N sending processes, every byte verified" + suffix);
        plot.XLabel("sending processes (log scale)");
        plot.YLabel("messages received per second (millions)");
        plot.Axes.SetLimitsY(0, Math.Max(0.1, rows.Max(r => (r.MsgsPerS ?? 0) / 1e6) * 1.2));
        plot.ShowLegend(Alignment.UpperLeft);
        return plot;
    }

    private static Plot? Connect(IReadOnlyList<BenchResult> results, string suffix)
    {
        var rows = Rows(results, BenchTest.Connect).Where(r => r.P50Ns is not null).ToList();
        if (rows.Count == 0)
        {
            return null;
        }
        var plot = new Plot();
        var ticks = new ScottPlot.TickGenerators.NumericManual();
        var bars = new List<Bar>();
        var palette = new ScottPlot.Palettes.Category10();
        for (var i = 0; i < rows.Count; i++)
        {
            bars.Add(new Bar { Position = (i * 3) + 0, Value = rows[i].P50Ns!.Value / 1000.0, FillColor = palette.GetColor(0) });
            bars.Add(new Bar { Position = (i * 3) + 1, Value = (rows[i].P99Ns ?? 0) / 1000.0, FillColor = palette.GetColor(1) });
            ticks.AddMajor((i * 3) + 0.5, rows[i].Transport);
        }
        plot.Add.Bars(bars);
        plot.Axes.Bottom.TickGenerator = ticks;
        plot.Legend.ManualItems.Add(new LegendItem { LabelText = "p50", FillColor = palette.GetColor(0) });
        plot.Legend.ManualItems.Add(new LegendItem { LabelText = "p99", FillColor = palette.GetColor(1) });
        plot.ShowLegend(Alignment.UpperRight);
        plot.Title("Connect + first 32 B round trip + close" + suffix);
        plot.YLabel("one connection cycle (µs)");
        plot.Axes.Margins(bottom: 0);
        return plot;
    }

    private static Plot? Sizes(IReadOnlyList<BenchResult> results, string suffix)
    {
        var rows = Rows(results, BenchTest.Sizes).Where(r => r.BytesPerS is > 0).ToList();
        if (rows.Count == 0)
        {
            return null;
        }
        var plot = new Plot();
        foreach (var series in rows.GroupBy(r => r.Transport))
        {
            var ordered = series.OrderBy(r => r.Size).ToList();
            Line(plot, [.. ordered.Select(r => Math.Log2(r.Size))], [.. ordered.Select(r => r.BytesPerS!.Value / 1e9)],
                series.Key == MemcpyBench.Name ? "memcpy (one thread, one process)" : $"{series.Key} {ordered[0].Mode} {ordered[0].Api}: bytes delivered and read");
        }
        var ticks = new ScottPlot.TickGenerators.NumericManual();
        foreach (var size in rows.Select(r => r.Size).Distinct().Order())
        {
            ticks.AddMajor(Math.Log2(size), SizeText.Format(size));
        }
        plot.Axes.Bottom.TickGenerator = ticks;
        plot.Title("One-way bandwidth by message size, every byte read by the receiver" + suffix);
        plot.XLabel("message size (log scale)");
        plot.YLabel("GB/s");
        plot.Axes.SetLimitsY(0, rows.Max(r => r.BytesPerS!.Value / 1e9) * 1.15);
        plot.ShowLegend(Alignment.UpperLeft);
        return plot;
    }

    private static ScottPlot.Plottables.Scatter Line(Plot plot, double[] xs, double[] ys, string label)
    {
        var line = plot.Add.Scatter(xs, ys);
        line.LineWidth = 2;
        line.MarkerSize = 7;
        line.LegendText = label;
        return line;
    }

    private static ScottPlot.TickGenerators.NumericManual PowersOfTen(IEnumerable<int> values)
    {
        var ticks = new ScottPlot.TickGenerators.NumericManual();
        foreach (var value in values.Distinct())
        {
            ticks.AddMajor(Math.Log10(value), value.ToString(CultureInfo.InvariantCulture));
        }
        return ticks;
    }
}
