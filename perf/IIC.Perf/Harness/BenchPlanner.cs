using IIC.Perf.Cli;
using IIC.Perf.Core;
using IIC.Perf.Results;

namespace IIC.Perf.Harness;

/// <summary>
/// Expands the options into the list of measurements, in table order (test, size, transport, mode, API). A
/// transport that cannot run here becomes a row that says why, so it never silently vanishes.
/// </summary>
internal static class BenchPlanner
{
    /// <summary>Each item is a measurement to make, or an already-final row for an unavailable transport.</summary>
    public static List<(MeasurementPlan? Plan, BenchResult? Row)> Expand(BenchOptions options, IReadOnlyList<IBenchTransport> transports)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(transports);
        var availability = transports.ToDictionary(transport => transport, transport => transport.Unavailable());
        var items = new List<(MeasurementPlan?, BenchResult?)>();
        foreach (var test in options.Tests)
        {
            var sizes = test == BenchTest.IdleGap && !options.SizesGiven ? [options.Sizes.Min()] : options.Sizes;
            var driver = new DriverSettings(
                options.WarmupS,
                options.DurationFor(test),
                options.Count,
                test == BenchTest.IdleGap ? BenchOptions.GapMinUs : 0,
                test == BenchTest.IdleGap ? BenchOptions.GapMaxUs : 0,
                test == BenchTest.IdleGap ? BenchOptions.IdleS : 0);
            foreach (var size in sizes)
            {
                foreach (var transport in transports)
                {
                    if (availability[transport] is { } reason)
                    {
                        items.Add((null, ResultRows.Unavailable(test, transport, size, reason)));
                        continue;
                    }
                    var modes = transport.Modes.Count == 1 ? transport.Modes : transport.Modes.Where(options.Modes.Contains).ToList();
                    var apis = test switch
                    {
                        BenchTest.Throughput => transport.ReceiveApis.Where(api => api != ReceiveApi.PollClaim && options.Apis.Contains(api)).ToList(),
                        BenchTest.PingPong => [ReceiveApi.Receive, .. transport.ReceiveApis.Where(api => api == ReceiveApi.PollClaim && options.Apis.Contains(api))],
                        _ => [ReceiveApi.Receive],
                    };
                    foreach (var mode in modes)
                    {
                        foreach (var api in apis)
                        {
                            items.Add((new MeasurementPlan(transport, new LinkOptions(test, mode, size, api), driver), null));
                        }
                    }
                }
            }
        }
        return items;
    }
}
