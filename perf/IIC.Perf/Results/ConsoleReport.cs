using IIC.Perf.Core;
using IIC.Perf.Harness;

namespace IIC.Perf.Results;

/// <summary>The tables a person reads: latency (ping-pong, idle gap), throughput, and the ratios that matter.</summary>
internal static class ConsoleReport
{
    public static void Print(TextWriter writer, MachineInfo machine, IReadOnlyList<BenchResult> results)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(machine);
        ArgumentNullException.ThrowIfNull(results);
        writer.WriteLine();
        writer.WriteLine($"Machine: {machine.Cpus} CPUs, {machine.CpuModel}, Linux {machine.Kernel}, {machine.Runtime}, load average {machine.LoadAvg:0.00} at the start{(machine.IsBusy ? " (busy: spinning numbers suffer)" : "")}");
        var reference = RatioTable.ReferenceTransport(results);
        var moved = results.Count(r => r.ProbeMoved == true);
        if (moved > 0)
        {
            writer.WriteLine($"{moved} row(s) marked MOVED, FLIP or SPAN: the placement probe (0-byte raw round trip) changed by more than {Placement.Tolerance}x during the row (MOVED; an interleaved row: no round kept), or the probes agree but a spinning 32 B round trip's p50 is outside {Placement.FlipLow}-{Placement.FlipHigh}x of theirs (FLIP: the host moved the CPUs and back during the row; an interleaved row: FLIP k/n when k of its n kept rounds' blocks are outside it against the probe before their round and fewer than {Placement.MinUnflippedRounds} rounds are left; with fewer flips the row shows \"k/n flipped\", is not marked, and its targets leave those rounds out), or an interleaved row's kept rounds ran on more than one placement kind (SPAN, the lowest and highest probe shown: sibling under {Placement.SiblingBelowNs} ns, near, far from {Placement.FarFromNs} ns; its targets give each kind's rounds apart); they are compared with nothing. Ratios below are taken only between rows whose probes agree within {Placement.Tolerance}x (\"-\" otherwise).");
        }
        LatencySection(writer, results, BenchTest.PingPong, "Round-trip latency, ping-pong between two processes (µs)", reference);
        LatencySection(writer, results, BenchTest.IdleGap,
            "Round-trip latency after a pause of 10 µs..1 ms before each message (µs): the cost of waking the receiver; idle cpu: the server's CPU while the client is silent for 1 s",
            reference);
        ThroughputSection(writer, results, BenchTest.Throughput, "One-way throughput between two processes (rate measured up to the receiver's acknowledgement of the last message; the receiver reads every byte)");
        LatencySection(writer, results, BenchTest.Channels,
            "Wake-up latency (round trips whose send woke the parked server after a 40-120 µs pause, pooled over the kept rounds, µs) against open channels that one server thread waits on as a group, round trips on one of them, the others idle (api column: channels; spread: each round trip on a pseudo-random channel); idle cpu: the server's CPU while the client is silent; per-round p50s and the verdict: the JSON and the targets below",
            reference);
        ThroughputSection(writer, results, BenchTest.FanIn, "Fan-in: 32 B messages from N sending processes into one receiving thread (api column: senders; cpu server: the receiving process)");
        LatencySection(writer, results, BenchTest.Connect, "Connect + first 32 B round trip + close (µs per cycle)", reference);
        ThroughputSection(writer, results, BenchTest.Sizes, "Bandwidth delivered by message size (one way, the receiver polls in place and reads every byte), beside memcpy");
        RatioTable.Print(writer, results, reference);
        TargetReport.Print(writer, results);
    }

    private static void LatencySection(TextWriter writer, IReadOnlyList<BenchResult> results, BenchTest test, string title, string reference)
    {
        var rows = results.Where(r => r.Test == test.ToName()).ToList();
        if (rows.Count == 0)
        {
            return;
        }
        writer.WriteLine();
        writer.WriteLine(title);
        var idle = test is BenchTest.IdleGap or BenchTest.Channels;
        var table = new TextTable([("size", true), ("transport", false), ("mode", false), ("api", false), ("count", true), ("p50", true), ("p90", true), ("p99", true),
            ("p99.9", true), ("max", true), ("cpu client s", true), ("cpu server s", true), .. (idle ? [("idle cpu", true)] : Array.Empty<(string, bool)>()),
            ($"p50 vs {reference}", true), ("probe ns", true)]);
        foreach (var row in rows)
        {
            var leading = new[] { SizeText.Format(row.Size), row.Transport, row.Mode, row.Channels is { } n ? n.ToString(System.Globalization.CultureInfo.InvariantCulture) + (row.Api is { } spread ? " " + spread : "") : row.Api ?? "-" };
            if (!row.IsOk)
            {
                table.AddNote($"{row.Status}: {row.Reason}", leading);
                continue;
            }
            var best = RatioTable.Best(results, row.Test, reference, row.Size);
            var ratio = best?.P50Ns is > 0 && row.P50Ns is { } p50 && Placement.Same(row, best) ? Units.Ratio(p50 / (double)best.P50Ns.Value) : "-";
            table.Add([.. leading, Units.Count(row.Count), Units.Micros(row.P50Ns), Units.Micros(row.P90Ns), Units.Micros(row.P99Ns),
                Units.Micros(row.P999Ns), Units.Micros(row.MaxNs), Units.Seconds(row.CpuClientS), Units.Seconds(row.CpuServerS),
                .. (idle ? [Units.Percent(row.IdleCpuPct)] : Array.Empty<string>()), ratio, Placement.Text(row)]);
        }
        table.Write(writer);
    }

    private static void ThroughputSection(TextWriter writer, IReadOnlyList<BenchResult> results, BenchTest test, string title)
    {
        var rows = results.Where(r => r.Test == test.ToName()).ToList();
        if (rows.Count == 0)
        {
            return;
        }
        writer.WriteLine();
        writer.WriteLine(title);
        var table = new TextTable(("size", true), ("transport", false), ("mode", false), ("api", false), ("msgs/s", true), ("bandwidth", true),
            ("cpu client s", true), ("cpu server s", true), ("probe ns", true));
        foreach (var row in rows)
        {
            var leading = new[] { SizeText.Format(row.Size), row.Transport, row.Mode, row.Senders?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? row.Api ?? "-" };
            if (!row.IsOk)
            {
                table.AddNote($"{row.Status}: {row.Reason}", leading);
                continue;
            }
            table.Add([.. leading, Units.Rate(row.MsgsPerS), Units.Bandwidth(row.BytesPerS), Units.Seconds(row.CpuClientS), Units.Seconds(row.CpuServerS), Placement.Text(row)]);
        }
        table.Write(writer);
    }
}
